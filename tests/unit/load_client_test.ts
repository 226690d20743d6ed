/**
 * The load client (`deno task client`) against small in-test `Deno.serve` servers on loopback:
 * exact counts, the concurrency bound, errors by status and by kind, percentiles, distinct
 * bodies, progress lines, usage errors and exit codes.
 */

import assert from "node:assert/strict";
import { type ClientIO, lineProgress, main, parseClientArgs } from "../../bin/client.ts";
import { classifyError, type LoadOptions, runLoad } from "../../bin/load_client.ts";
import {
  displayBody,
  formatSummary,
  latencyStats,
  percentile,
  type Progress,
} from "../../bin/load_summary.ts";

type Handler = (request: Request) => Response | Promise<Response>;

async function withServer(handler: Handler, fn: (url: string) => Promise<void>): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}/generate`);
  } finally {
    await server.shutdown();
  }
}

function options(url: string, more: Partial<LoadOptions> = {}): LoadOptions {
  return {
    url,
    requests: 20,
    concurrency: 4,
    body: '{"prompt":"test prompt"}',
    timeoutMs: 5000,
    ...more,
  };
}

/** A port nothing listens on: the OS picked it a moment ago and it was closed again. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function captureIO(isTerminal = false): ClientIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    isTerminal,
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
  };
}

Deno.test("percentile is nearest-rank on known data", () => {
  const data = Float64Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  assert.equal(percentile(data, 50), 50);
  assert.equal(percentile(data, 90), 90);
  assert.equal(percentile(data, 99), 99);
  assert.equal(percentile(data, 100), 100);
  assert.equal(percentile(data, 0.5), 1);
  assert.equal(percentile([10, 20, 30, 40], 50), 20);
  assert.equal(percentile([10, 20, 30, 40], 51), 30);
  assert.equal(percentile([10, 20, 30, 40], 99), 40);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.throws(() => percentile([1], 0), RangeError);
  assert.throws(() => percentile([1], 101), RangeError);

  const unsorted = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
  assert.deepEqual(latencyStats(unsorted), { min: 1, mean: 5.5, p50: 5, p90: 9, p99: 10, max: 10 });
  assert.deepEqual(unsorted.slice(0, 3), [5, 1, 4], "input left as it was");
  assert.equal(latencyStats([]), null);
});

Deno.test("N requests get exactly N answers; distinct bodies are counted, top five listed", async () => {
  let received = 0;
  await withServer(async (request) => {
    const n = received++;
    assert.equal(request.method, "POST");
    assert.deepEqual(await request.json(), { prompt: "test prompt" });
    assert.equal(request.headers.get("content-type"), "application/json");
    assert.equal(request.headers.get("x-test"), "yes");
    return new Response(`test prompt_ProcessedBy_node1_GeneratedBy_node${2 + (n % 2)}\n`);
  }, async (url) => {
    const summary = await runLoad(options(url, { requests: 50, headers: [["x-test", "yes"]] }));
    assert.equal(received, 50);
    assert.equal(summary.sent, 50);
    assert.equal(summary.completed, 50);
    assert.equal(summary.ok, 50);
    assert.equal(summary.failed, 0);
    assert.equal(summary.stopped, "completed");
    assert.deepEqual(summary.statuses, { "200": 50 });
    assert.ok(summary.latencyMs && summary.latencyMs.p50 <= summary.latencyMs.p99);
    assert.ok(summary.throughput > 0 && summary.totalMs > 0);
    assert.equal(summary.bodies.distinct, 2);
    assert.deepEqual(summary.bodies.top, [
      { body: "test prompt_ProcessedBy_node1_GeneratedBy_node2\n", count: 25 },
      { body: "test prompt_ProcessedBy_node1_GeneratedBy_node3\n", count: 25 },
    ]);
    const text = formatSummary(summary);
    assert.match(
      text,
      /^client: 50 requests to http:\/\/127\.0\.0\.1:\d+\/generate, concurrency 4$/m,
    );
    assert.match(text, /^ {2}bodies {7}2 distinct bodies:$/m);
    assert.match(text, /^ {4}25 {2}test prompt_ProcessedBy_node1_GeneratedBy_node2$/m);
    assert.match(text, /^ {2}errors {7}none$/m);
  });
});

Deno.test("--group-by counts one JSON field: unique request ids, two workers", async () => {
  let n = 0;
  await withServer(() => {
    const worker = `test prompt_ProcessedBy_node1_GeneratedBy_node${2 + (n % 2)}`;
    return Response.json({ worker_output: worker, request_id: crypto.randomUUID(), i: n++ });
  }, async (url) => {
    const whole = await runLoad(options(url, { requests: 10 }));
    assert.equal(whole.bodies.distinct, 10);
    assert.match(formatSummary(whole), /all 10 distinct bodies \(--group-by FIELD/);
    const grouped = await runLoad(options(url, { requests: 10, groupBy: "worker_output" }));
    assert.deepEqual(grouped.bodies.top.map((b) => b.count), [5, 5]);
    assert.match(formatSummary(grouped), /2 distinct values of worker_output:/);
    const missing = await runLoad(options(url, { requests: 4, groupBy: "a.b" }));
    assert.deepEqual(missing.bodies.top, [{ body: "(no a.b)", count: 4 }]);
  });
});

/**
 * The global fetch, counting requests in flight from the call to the end of the response body
 * (when the client's lane is free again).
 */
function countingFetch(): { fetch: typeof fetch; max: () => number } {
  let inFlight = 0;
  let max = 0;
  const counted: typeof fetch = async (input, init) => {
    max = Math.max(max, ++inFlight);
    let response: Response;
    try {
      response = await fetch(input, init);
    } catch (error) {
      inFlight--;
      throw error;
    }
    const body = response.body?.pipeThrough(new TransformStream({ flush: () => void inFlight-- }));
    if (!body) inFlight--;
    return new Response(body ?? null, response);
  };
  return { fetch: counted, max: () => max };
}

Deno.test("concurrency is what was asked: the server holds requests until C are waiting", async () => {
  const C = 8;
  let inFlight = 0;
  let maxInFlight = 0;
  let waiting: (() => void)[] = [];
  const release = () => {
    const batch = waiting;
    waiting = [];
    for (const resolve of batch) resolve();
  };
  await withServer(async () => {
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    const { promise, resolve } = Promise.withResolvers<void>();
    waiting.push(resolve);
    if (waiting.length === C) release();
    await promise;
    inFlight--;
    return new Response("ok");
  }, async (url) => {
    for (const concurrency of [C, C + 1]) {
      maxInFlight = 0;
      const stop = new AbortController();
      const client = countingFetch();
      // Fewer than C in flight never fill the server's gate: fail (and free it) after 2 s.
      const guard = setTimeout(() => {
        stop.abort();
        release();
      }, 2000);
      try {
        const summary = await runLoad(
          options(url, { requests: 4 * C, concurrency, signal: stop.signal, fetch: client.fetch }),
        );
        if (concurrency === C) {
          assert.equal(stop.signal.aborted, false, "the gate never filled: fewer than C in flight");
          assert.equal(summary.ok, 4 * C);
          assert.equal(maxInFlight, C, "the server saw C at once");
          assert.equal(client.max(), C, "and the client never had more");
        } else {
          // The control: one lane too many is seen by the counter (the gate alone would not).
          assert.equal(client.max(), C + 1);
        }
      } finally {
        clearTimeout(guard);
        release();
      }
    }
  });
});

Deno.test("errors are counted by HTTP status; latency and bodies cover 2xx only", async () => {
  let n = 0;
  await withServer(() => {
    const i = n++;
    if (i % 4 === 0) return Response.json({ error: { code: "no_instances" } }, { status: 503 });
    if (i % 10 === 5) return new Response("missing", { status: 404 });
    return new Response("fine");
  }, async (url) => {
    const summary = await runLoad(options(url, { requests: 40 }));
    // i in 0..39: multiples of 4 -> 10 x 503; 5, 15, 25, 35 -> 4 x 404; the other 26 -> 200.
    assert.deepEqual(summary.httpErrors, { "503": 10, "404": 4 });
    assert.deepEqual(summary.statuses, { "200": 26, "503": 10, "404": 4 });
    assert.equal(summary.ok, 26);
    assert.equal(summary.failed, 14);
    assert.equal(summary.completed, 40);
    assert.deepEqual(summary.networkErrors, {});
    assert.deepEqual(summary.bodies.top, [{ body: "fine", count: 26 }]);
    assert.match(formatSummary(summary), /^ {2}HTTP errors {2}503: 10, 404: 4$/m);
  });
});

Deno.test("a refused port gives counted errors, not a crash; main exits 1", async () => {
  const url = `http://127.0.0.1:${closedPort()}/generate`;
  const summary = await runLoad(options(url, { requests: 12, concurrency: 3 }));
  assert.equal(summary.completed, 12);
  assert.equal(summary.failed, 12);
  assert.equal(summary.ok, 0);
  assert.deepEqual(summary.networkErrors, { "connection refused": 12 });
  assert.match(summary.errorExamples["connection refused"]!, /Connection refused/);
  assert.equal(summary.latencyMs, null);
  const text = formatSummary(summary);
  assert.match(text, /^ {2}net errors {3}connection refused: 12 {2}\(e\.g\. /m);
  assert.match(text, /^ {2}latency {6}- \(no 2xx answers\)$/m);

  const io = captureIO();
  assert.equal(await main(["--url", url, "--requests", "5", "--json"], io), 1);
  const json = JSON.parse(io.out.join("\n"));
  assert.equal(json.failed, 5);
  assert.deepEqual(json.networkErrors, { "connection refused": 5 });
});

Deno.test("each request has its own deadline: a silent server gives timeouts", async () => {
  const hold = Promise.withResolvers<void>();
  await withServer(async () => {
    await hold.promise;
    return new Response("late");
  }, async (url) => {
    try {
      const summary = await runLoad(options(url, { requests: 4, concurrency: 4, timeoutMs: 100 }));
      assert.deepEqual(summary.networkErrors, { timeout: 4 });
      assert.equal(summary.failed, 4);
    } finally {
      hold.resolve();
    }
  });
});

Deno.test("latency runs to the end of a streamed body", async () => {
  await withServer(() => {
    const encoder = new TextEncoder();
    return new Response(
      new ReadableStream({
        async start(controller) {
          controller.enqueue(encoder.encode("data: 1\n\n"));
          await new Promise((resolve) => setTimeout(resolve, 60));
          controller.enqueue(encoder.encode("data: 2\n\n"));
          controller.close();
        },
      }),
    );
  }, async (url) => {
    const summary = await runLoad(options(url, { requests: 2, concurrency: 2 }));
    assert.equal(summary.ok, 2);
    assert.ok(summary.latencyMs!.min >= 55, `latency ${summary.latencyMs!.min} ms`);
    assert.equal(summary.bytes, 36);
    assert.deepEqual(summary.bodies.top, [{ body: "data: 1\n\ndata: 2\n\n", count: 2 }]);
  });
});

Deno.test("--duration-s stops starting requests; an interrupt cancels those in flight", async () => {
  await withServer(async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return new Response("ok");
  }, async (url) => {
    const capped = await runLoad(options(url, { requests: 1000, concurrency: 2, durationS: 0.1 }));
    assert.equal(capped.stopped, "duration");
    assert.ok(capped.sent > 0 && capped.sent < 1000, `sent ${capped.sent}`);
    assert.equal(capped.completed, capped.sent);
    assert.match(formatSummary(capped), /stopped starting requests at --duration-s/);

    const stop = new AbortController();
    const interrupted = await runLoad(
      options(url, { requests: 1000, concurrency: 3, signal: stop.signal }),
      (p) => p.done === 6 && stop.abort(),
    );
    assert.equal(interrupted.stopped, "interrupted");
    assert.equal(interrupted.failed, 0);
    assert.equal(interrupted.completed + interrupted.cancelled, interrupted.sent);
    assert.ok(interrupted.completed >= 6 && interrupted.sent < 1000);
  });
});

Deno.test("plain progress: every 10% or every second, whichever is rarer, and at the end", () => {
  const p = (done: number): Progress => ({ done, total: 100, failed: 1, elapsedMs: done * 100 });
  let clock = 0;
  const lines: string[] = [];
  const reporter = lineProgress((line) => lines.push(line), { now: () => clock });
  for (let done = 1; done <= 100; done++) {
    clock = done * 100; // 10 requests a second: 10% is also one second
    reporter.update(p(done));
  }
  reporter.stop(p(100));
  assert.equal(lines.length, 10);
  assert.equal(lines[3], "client: 40/100 requests, 10.0 req/s, 1 errors");
  assert.equal(lines[9], "client: 100/100 requests, 10.0 req/s, 1 errors");

  // Fast: 100 requests in 0.5 s print only the final line.
  lines.length = 0;
  clock = 0;
  const fast = lineProgress((line) => lines.push(line), { now: () => clock });
  for (let done = 1; done <= 100; done++) {
    clock = done * 5;
    fast.update(p(done));
  }
  fast.stop(p(100));
  assert.deepEqual(lines, ["client: 100/100 requests, 10.0 req/s, 1 errors"]);
});

Deno.test("main without a terminal: progress lines on stderr, the summary on stdout", async () => {
  await withServer(() => new Response("same"), async (url) => {
    const io = captureIO(false);
    assert.equal(await main(["--url", url, "-n", "30", "-c", "5"], io), 0);
    assert.match(io.err.at(-1)!, /^client: 30\/30 requests, [\d.]+ req\/s, 0 errors$/);
    const out = io.out.join("\n");
    assert.match(out, /^client: 30 requests to .*, concurrency 5$/m);
    assert.match(out, /^ {2}throughput {3}[\d.]+ req\/s$/m);
    assert.match(out, /^ {2}latency {6}p50 [\d.]+ ms, p90 [\d.]+ ms, p99 [\d.]+ ms /m);
    assert.match(out, /^ {4}30 {2}same$/m);
  });
});

Deno.test("bad flags: one error line after the usage, exit code 2", async () => {
  for (
    const [args, message] of [
      [["--requests", "0"], '--requests expects a whole number from 1 to 1000000, got "0"'],
      [["--requests", "1000001"], "--requests expects a whole number from 1 to 1000000"],
      [["--concurrency", "1025"], "--concurrency expects a whole number from 1 to 1024"],
      [["-c", "2.5"], "--concurrency expects a whole number"],
      [["--timeout-ms", "abc"], "--timeout-ms expects a whole number"],
      [["--duration-s", "0"], "--duration-s expects seconds"],
      [["--url", "ftp://x/"], "--url expects an http(s) URL"],
      [["--header", "no colon"], '--header expects "Name: value"'],
      [["--bogus"], "Unknown option '--bogus'"],
      [["extra"], "Unexpected argument 'extra'"],
      [["--requests"], "Option '-n, --requests <value>' argument missing"],
    ] as const
  ) {
    const io = captureIO();
    assert.equal(await main([...args], io), 2, args.join(" "));
    assert.equal(io.err.length, 2);
    assert.match(io.err[0]!, /^meshwork client: /);
    assert.ok(io.err[1]!.startsWith(`error: ${message}`), io.err[1]!);
    assert.equal(io.err[1]!.includes("\n"), false);
    assert.deepEqual(io.out, []);
  }
  const help = captureIO();
  assert.equal(await main(["--help"], help), 0);
  assert.match(help.out[0]!, /--concurrency C/);
  assert.deepEqual(parseClientArgs(["-H", "Accept: text/event-stream"])!.options.headers, [[
    "Accept",
    "text/event-stream",
  ]]);
  assert.equal(parseClientArgs([])!.options.body, '{"prompt":"test prompt"}');
  assert.equal(parseClientArgs([])!.options.url, "http://localhost:8000/generate");
});

Deno.test("network errors are named by kind; bodies display on one line", () => {
  const cause = (text: string) => new TypeError("fetch failed", { cause: new Error(text) });
  assert.equal(
    classifyError(cause("tcp connect error: Connection refused (os error 111)")),
    "connection refused",
  );
  assert.equal(classifyError(cause("dns error: failed to lookup address")), "dns error");
  assert.equal(
    classifyError(cause("client error (SendRequest): connection closed before message completed")),
    "connection closed",
  );
  assert.equal(
    classifyError(new DOMException("The operation timed out", "TimeoutError")),
    "timeout",
  );
  assert.equal(classifyError(new Error("something new")), "other");
  assert.equal(displayBody('{"a":1}\n'), '{"a":1}');
  assert.equal(displayBody("a\nb"), '"a\\nb"');
  assert.equal(displayBody("x".repeat(200)).length, 100);
});

Deno.test("the entry point's exit codes: 1 when requests failed, 2 for bad flags", async () => {
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "bin/client.ts", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const refused = await run("--url", `http://127.0.0.1:${closedPort()}/`, "-n", "3", "--json");
  assert.equal(refused.code, 1);
  assert.equal(JSON.parse(new TextDecoder().decode(refused.stdout)).failed, 3);
  assert.match(new TextDecoder().decode(refused.stderr), /^client: 3\/3 requests, /m);
  const bad = await run("--concurrency", "0");
  assert.equal(bad.code, 2);
  assert.match(new TextDecoder().decode(bad.stderr), /\nerror: --concurrency expects .*\n$/);
});
