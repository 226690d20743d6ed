/**
 * The HTTP gateway: response modes (exact bytes), request ids, error statuses, body limits,
 * probes and metrics, all in-process with `app.request()`; then one end-to-end test over a real
 * socket for incremental streaming and client-abort propagation.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { ManualClock } from "../../utils/clock.ts";
import { MeshError, type MeshErrorCode } from "../../protocol/errors.ts";
import { createLogger } from "../../utils/logger.ts";
import { createGatewayApp, type GatewayOptions, type GenerateContext } from "../../gateway/app.ts";
import { serveGateway } from "../../gateway/server.ts";
import { CLIENT_WATCH_AFTER_MS } from "../../gateway/routes/generate.ts";
import { within } from "../helpers/eventually.ts";

type Generate = GatewayOptions["generate"];

function makeApp(generate: Generate, extra: Partial<GatewayOptions> = {}) {
  return createGatewayApp({
    generate,
    health: () => ({ instances: ["w1", "w2"] }),
    ready: () => true,
    newRequestId: () => "generated-id",
    ...extra,
  });
}

function chunks(...values: unknown[]): Generate {
  return async function* () {
    for (const value of values) yield value;
  };
}

function failing(error: unknown, before: unknown[] = []): Generate {
  return async function* () {
    for (const value of before) yield value;
    throw error;
  };
}

function post(
  app: ReturnType<typeof makeApp>,
  body: BodyInit = '{"prompt":"hi"}',
  headers: Record<string, string> = {},
  init: RequestInit = {},
) {
  return app.request("/generate", { method: "POST", body, headers, ...init });
}

function errorBody(code: string, message: string, retryable = false): string {
  return JSON.stringify({ error: { code, message, retryable } });
}

Deno.test("POST /generate streams string chunks as text lines when Accept is absent", async () => {
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", sink: (line) => lines.push(line) });
  const res = await post(makeApp(chunks("hi_ProcessedBy_a", "hi_GeneratedBy_b"), { logger }));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(res.headers.get("x-request-id"), "generated-id");
  assert.equal(await res.text(), "hi_ProcessedBy_a\nhi_GeneratedBy_b\n");
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /DEBUG request method=POST path=\/generate status=200 .*outcome=ok$/);
});

Deno.test("POST /generate streams NDJSON, strings JSON-encoded, when the first chunk is not a string", async () => {
  const res = await post(makeApp(chunks({ n: 1 }, [2], 3, "s")), undefined, { accept: "*/*" });
  assert.equal(res.headers.get("content-type"), "application/x-ndjson");
  assert.equal(await res.text(), '{"n":1}\n[2]\n3\n"s"\n');
});

Deno.test("POST /generate JSON-encodes string chunks when NDJSON is asked for", async () => {
  const res = await post(makeApp(chunks("a", { b: 1 })), undefined, {
    accept: "application/x-ndjson",
  });
  assert.equal(res.headers.get("content-type"), "application/x-ndjson");
  assert.equal(await res.text(), '"a"\n{"b":1}\n');
});

Deno.test("POST /generate writes one SSE data event per chunk", async () => {
  const res = await post(makeApp(chunks("a", { n: 1 })), undefined, {
    accept: "text/event-stream",
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  assert.equal(res.headers.get("cache-control"), "no-cache, no-transform");
  assert.equal(await res.text(), 'data: "a"\n\ndata: {"n":1}\n\n');
});

Deno.test("POST /generate buffers JSON: one chunk as itself, several as an array, none as null", async () => {
  const accept = { accept: "application/json" };
  const one = await post(makeApp(chunks({ text: "x" })), undefined, accept);
  assert.equal(one.headers.get("content-type"), "application/json");
  assert.equal(await one.text(), '{"text":"x"}');
  const several = await post(makeApp(chunks("a", "b")), undefined, accept);
  assert.equal(await several.text(), '["a","b"]');
  const none = await post(makeApp(chunks()), undefined, accept);
  assert.equal(none.status, 200);
  assert.equal(await none.text(), "null");
});

Deno.test("POST /generate with no chunks answers an empty 200 stream", async () => {
  const res = await post(makeApp(chunks()));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/x-ndjson");
  assert.equal(await res.text(), "");
});

Deno.test("POST /generate takes the request id from the body, then the header, then makes one", async () => {
  const seen: GenerateContext[] = [];
  const app = makeApp(async function* (_body, ctx) {
    seen.push(ctx);
    yield ctx.requestId;
  });
  const fromBody = await post(app, '{"prompt":"p","request_id":"body-id"}', {
    "x-request-id": "header-id",
  });
  assert.equal(fromBody.headers.get("x-request-id"), "body-id");
  assert.equal(await fromBody.text(), "body-id\n");
  const fromHeader = await post(app, '{"prompt":"p","request_id":""}', {
    "x-request-id": "header-id",
  });
  assert.equal(fromHeader.headers.get("x-request-id"), "header-id");
  assert.equal(await fromHeader.text(), "header-id\n");
  const made = await post(app, '{"prompt":"p"}');
  assert.equal(made.headers.get("x-request-id"), "generated-id");
  assert.equal(await made.text(), "generated-id\n");
  assert.equal(seen[0]!.headers.get("x-request-id"), "header-id");
  assert.ok(seen.every((ctx) => ctx.deadline > Date.now() + 50_000 && !ctx.signal.aborted));
});

Deno.test("POST /generate rejects a request id that cannot be echoed in a header", async () => {
  const res = await post(makeApp(chunks("x")), '{"request_id":"two\\nlines"}');
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.code, "bad_request");
});

Deno.test("POST /generate answers 400 for a body that is not JSON", async () => {
  const res = await post(makeApp(chunks("x")), "{not json", { "x-request-id": "r1" });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(res.headers.get("x-request-id"), "r1");
  assert.equal(await res.text(), errorBody("bad_request", "Body is not valid JSON"));
  const empty = await post(makeApp(chunks("x")), "");
  assert.equal(await empty.text(), errorBody("bad_request", "Body is empty; send a JSON object"));
});

Deno.test("POST /generate answers 400 for JSON that is not an object", async () => {
  for (const body of ["[1,2]", "42", "null", '"text"']) {
    const res = await post(makeApp(chunks("x")), body);
    assert.equal(res.status, 400, body);
    assert.equal(await res.text(), errorBody("bad_request", "Body must be a JSON object"));
  }
});

Deno.test("POST /generate accepts a JSON body whatever its content type says", async () => {
  const res = await post(makeApp(chunks("ok")), '{"prompt":"p"}', { "content-type": "text/plain" });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "ok\n");
});

Deno.test("a bad_request MeshError from generate() becomes a 400 before any output", async () => {
  const app = makeApp(async function* (body) {
    if (typeof (body as { prompt?: unknown }).prompt !== "string") {
      throw new MeshError("bad_request", 'Field "prompt" must be a string');
    }
    yield "never";
  });
  const res = await post(app, '{"text":"no prompt"}', { accept: "text/event-stream" });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(await res.text(), errorBody("bad_request", 'Field "prompt" must be a string'));
});

Deno.test("MeshError codes map to their HTTP statuses", async () => {
  const expected: Record<MeshErrorCode, number> = {
    bad_request: 400,
    not_found: 404,
    no_instances: 503,
    busy: 503,
    deadline_exceeded: 504,
    cancelled: 499,
    instance_lost: 502,
    internal: 500,
  };
  for (const [code, status] of Object.entries(expected)) {
    const error = new MeshError(code as MeshErrorCode, `failed with ${code}`);
    const res = await post(makeApp(failing(error)));
    assert.equal(res.status, status, code);
    assert.equal(await res.text(), errorBody(code, `failed with ${code}`, error.retryable));
  }
});

Deno.test("no_instances becomes a 503 with Retry-After", async () => {
  const error = new MeshError("no_instances", 'No live instances of "hello/Worker/generate"');
  const res = await post(makeApp(failing(error), { retryAfterSeconds: 7 }));
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "7");
  assert.equal(
    await res.text(),
    errorBody("no_instances", 'No live instances of "hello/Worker/generate"', true),
  );
  const busy = await post(makeApp(failing(new MeshError("busy", "Busy"))));
  assert.equal(busy.status, 503);
  assert.equal(busy.headers.get("retry-after"), "1");
  await busy.body?.cancel();
});

Deno.test("deadline_exceeded from generate() becomes a 504", async () => {
  const res = await post(makeApp(failing(new MeshError("deadline_exceeded", "Too slow"))));
  assert.equal(res.status, 504);
  assert.equal(await res.text(), errorBody("deadline_exceeded", "Too slow"));
});

Deno.test("the gateway's own deadline aborts ctx.signal and answers 504", async () => {
  const clock = new ManualClock(1_000);
  const started = Promise.withResolvers<GenerateContext>();
  const app = makeApp(async function* (_body, ctx) {
    started.resolve(ctx);
    await new Promise((_, reject) => ctx.signal.addEventListener("abort", reject));
    yield "never";
  }, { clock, requestTimeoutMs: 5_000 });
  const response = post(app, '{"request_id":"slow"}');
  const ctx = await started.promise;
  assert.equal(ctx.deadline, 6_000);
  clock.advance(5_000);
  const res = await response;
  assert.equal(res.status, 504);
  assert.equal(
    await res.text(),
    errorBody("deadline_exceeded", 'Request "slow" did not finish within 5000 ms'),
  );
  assert.equal((ctx.signal.reason as MeshError).code, "deadline_exceeded");
  // No timer outlives its time-out: past the body time-out (10 s) nothing is pending.
  clock.advance(10_000);
  assert.equal(clock.pending, 0);
});

Deno.test("an error after the first chunk ends a 200 line stream with an error line", async () => {
  const error = new MeshError("instance_lost", "Worker went away");
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", sink: (line) => lines.push(line) });
  const res = await post(makeApp(failing(error, [{ n: 1 }]), { logger }));
  assert.equal(res.status, 200);
  assert.equal(
    await res.text(),
    `{"n":1}\n${errorBody("instance_lost", "Worker went away", true)}\n`,
  );
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    /WARN {2}request method=POST path=\/generate status=200 ms=\S+ request_id=generated-id outcome=instance_lost$/,
  );
});

Deno.test("an error after the first chunk ends a 200 SSE stream with an error event", async () => {
  const error = new MeshError("deadline_exceeded", "Too slow");
  const res = await post(makeApp(failing(error, ["a"])), undefined, {
    accept: "text/event-stream",
  });
  assert.equal(res.status, 200);
  assert.equal(
    await res.text(),
    'data: "a"\n\nevent: error\ndata: {"code":"deadline_exceeded","message":"Too slow","retryable":false}\n\n',
  );
});

Deno.test("an error after the first chunk still gets its status in buffered JSON mode", async () => {
  const error = new MeshError("no_instances", "Gone");
  const res = await post(makeApp(failing(error, ["a"])), undefined, { accept: "application/json" });
  assert.equal(res.status, 503);
  assert.equal(await res.text(), errorBody("no_instances", "Gone", true));
});

Deno.test("a thrown non-MeshError becomes a 500 with a generic message and is logged", async () => {
  const lines: string[] = [];
  const logger = createLogger({ sink: (line) => lines.push(line) });
  const res = await post(makeApp(failing(new TypeError("secret detail")), { logger }));
  assert.equal(res.status, 500);
  const text = await res.text();
  assert.equal(text, errorBody("internal", "Internal server error"));
  assert.ok(!text.includes("secret") && !text.includes(" at "));
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /ERROR unexpected error .*"TypeError: secret detail"/);
  assert.match(lines[0]!, /request_id=generated-id/);
  assert.match(lines[1]!, /WARN {2}request method=POST path=\/generate status=500/);
});

Deno.test("a thrown non-MeshError mid-stream becomes a generic error line", async () => {
  const res = await post(makeApp(failing(new Error("boom"), ["a"])));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), `a\n${errorBody("internal", "Internal server error")}\n`);
});

Deno.test("GET /generate answers 405 with Allow: POST", async () => {
  const app = makeApp(chunks("x"));
  const res = await app.request("/generate");
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "POST");
  assert.equal(
    await res.text(),
    errorBody("method_not_allowed", 'Method "GET" is not allowed on "/generate"; use POST'),
  );
  const live = await app.request("/live", { method: "POST" });
  assert.equal(live.status, 405);
  assert.equal(live.headers.get("allow"), "GET, HEAD");
  await live.body?.cancel();
});

Deno.test("an unknown path answers 404 JSON", async () => {
  const res = await makeApp(chunks("x")).request("/nope?x=1");
  assert.equal(res.status, 404);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(await res.text(), errorBody("not_found", 'No route for GET "/nope"'));
});

Deno.test("a body over the limit answers 413 from its Content-Length", async () => {
  let called = false;
  const app = makeApp(async function* () {
    called = true;
    yield "x";
  }, { maxBodyBytes: 16 });
  const res = await post(app, '{"prompt":"hi"}', { "content-length": "17" });
  assert.equal(res.status, 413);
  assert.equal(
    await res.text(),
    errorBody("payload_too_large", "Request body is larger than the limit of 16 bytes"),
  );
  assert.equal(called, false);
});

Deno.test("a chunked body over the limit answers 413 and stops reading it", async () => {
  let pulls = 0;
  const cancelled = Promise.withResolvers<void>();
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      controller.enqueue(new TextEncoder().encode(" ".repeat(1024)));
    },
    cancel: () => cancelled.resolve(),
  });
  const app = makeApp(chunks("x"), { maxBodyBytes: 4096 });
  const res = await post(app, endless, {}, { duplex: "half" } as RequestInit);
  assert.equal(res.status, 413);
  assert.equal((await res.json()).error.code, "payload_too_large");
  await cancelled.promise;
  assert.ok(pulls <= 6, `read ${pulls} chunks`);
});

Deno.test("a body at the limit is accepted", async () => {
  const body = '{"prompt":"hi"}';
  const res = await post(makeApp(chunks("ok"), { maxBodyBytes: body.length }), body);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "ok\n");
});

Deno.test("cancelling the response body aborts ctx.signal and runs the generator's finally", async () => {
  const aborted = Promise.withResolvers<unknown>();
  const finished = Promise.withResolvers<void>();
  const app = makeApp(async function* (_body, ctx) {
    ctx.signal.addEventListener("abort", () => aborted.resolve(ctx.signal.reason));
    try {
      yield "first";
      await new Promise((_, reject) => ctx.signal.addEventListener("abort", reject));
    } finally {
      finished.resolve();
    }
  });
  const res = await post(app);
  const reader = res.body!.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), "first\n");
  await reader.cancel();
  assert.equal(((await aborted.promise) as MeshError).code, "cancelled");
  await finished.promise;
});

Deno.test("a client abort before the first chunk aborts ctx.signal", async () => {
  const client = new AbortController();
  const clock = new ManualClock(1_000);
  const started = Promise.withResolvers<void>();
  const finished = Promise.withResolvers<void>();
  let reason: unknown;
  let abortedAt: number | undefined;
  const app = makeApp(async function* (_body, ctx) {
    started.resolve();
    try {
      await new Promise((_, reject) => ctx.signal.addEventListener("abort", reject));
      yield "never";
    } finally {
      reason = ctx.signal.reason;
      abortedAt = clock.now();
      finished.resolve();
    }
  }, { clock });
  const response = post(app, undefined, {}, { signal: client.signal });
  await started.promise;
  client.abort();
  // The disconnect is watched once the first step has waited CLIENT_WATCH_AFTER_MS: no sooner
  // (a quick answer never pays for the watch), and then at once.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(abortedAt, undefined);
  clock.advance(CLIENT_WATCH_AFTER_MS);
  const res = await response;
  assert.equal(abortedAt, 1_000 + CLIENT_WATCH_AFTER_MS);
  await finished.promise;
  assert.equal(res.status, 499);
  assert.equal(await res.text(), errorBody("cancelled", "Client disconnected"));
  assert.equal((reason as MeshError).message, "Client disconnected");
});

Deno.test("GET /live, /ready and /health answer JSON", async () => {
  let ready = false;
  const app = makeApp(chunks(), { ready: () => ready });
  const live = await app.request("/live");
  assert.equal(live.status, 200);
  assert.equal(await live.text(), '{"status":"live"}');
  const notReady = await app.request("/ready");
  assert.equal(notReady.status, 503);
  assert.equal(await notReady.text(), '{"status":"not_ready"}');
  ready = true;
  const isReady = await app.request("/ready");
  assert.equal(isReady.status, 200);
  assert.equal(await isReady.text(), '{"status":"ready"}');
  const health = await app.request("/health");
  assert.equal(health.status, 200);
  assert.equal(health.headers.get("content-type"), "application/json");
  assert.equal(await health.text(), '{"instances":["w1","w2"]}');
});

Deno.test("GET /metrics counts /generate requests by status in the app's own registry", async () => {
  const metricsRegistry = new Registry();
  const app = makeApp(chunks("x"), { metricsRegistry });
  await (await post(app)).text();
  await (await post(app, "nope")).text();
  await (await app.request("/live")).text();
  const res = await app.request("/metrics");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.match(text, /^mesh_gateway_requests_total\{status="200"\} 1$/m);
  assert.match(text, /^mesh_gateway_requests_total\{status="400"\} 1$/m);
  assert.match(text, /^mesh_gateway_request_duration_seconds_count 2$/m);
  const other = await makeApp(chunks("x")).request("/metrics");
  assert.doesNotMatch(await other.text(), /mesh_gateway_requests_total\{/);
});

Deno.test("GET /metrics serves a custom metrics() function", async () => {
  const app = makeApp(chunks(), {
    metrics: () => Promise.resolve({ contentType: "text/plain", body: "custom 1\n" }),
  });
  const res = await app.request("/metrics");
  assert.equal(res.headers.get("content-type"), "text/plain");
  assert.equal(await res.text(), "custom 1\n");
});

Deno.test("a failing health() answers a generic 500", async () => {
  const app = makeApp(chunks(), {
    health: () => {
      throw new Error("registry down");
    },
  });
  const res = await app.request("/health");
  assert.equal(res.status, 500);
  assert.equal(await res.text(), errorBody("internal", "Internal server error"));
});

async function readLine(
  reader: ReadableStreamDefaultReader<string>,
  buffer: { text: string },
): Promise<string> {
  while (!buffer.text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`Stream ended before a full line: ${JSON.stringify(buffer.text)}`);
    buffer.text += value;
  }
  const at = buffer.text.indexOf("\n");
  const line = buffer.text.slice(0, at);
  buffer.text = buffer.text.slice(at + 1);
  return line;
}

Deno.test("over a socket, chunks arrive as produced and a client abort stops the generator", async () => {
  const release2 = Promise.withResolvers<void>();
  const aborted = Promise.withResolvers<unknown>();
  const finished = Promise.withResolvers<void>();
  let produced2 = false;
  const app = makeApp(async function* (_body, ctx) {
    ctx.signal.addEventListener("abort", () => aborted.resolve(ctx.signal.reason));
    try {
      yield { n: 1 };
      await release2.promise;
      produced2 = true;
      yield { n: 2 };
      await new Promise((_, reject) => ctx.signal.addEventListener("abort", reject));
    } finally {
      finished.resolve();
    }
  });
  const server = serveGateway(app, { port: 0, hostname: "127.0.0.1" });
  const client = new AbortController();
  try {
    assert.ok(server.port > 0);
    const res = await fetch(`http://127.0.0.1:${server.port}/generate`, {
      method: "POST",
      body: '{"prompt":"hi"}',
      headers: { accept: "application/x-ndjson" },
      signal: client.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const buffer = { text: "" };
    assert.equal(await within(readLine(reader, buffer), "chunk 1"), '{"n":1}');
    assert.equal(produced2, false);
    release2.resolve();
    assert.equal(await within(readLine(reader, buffer), "chunk 2"), '{"n":2}');
    client.abort();
    await reader.read().catch(() => {});
    assert.equal(((await within(aborted.promise, "ctx.signal")) as MeshError).code, "cancelled");
    await within(finished.promise, "the generator's finally");
  } finally {
    client.abort();
    await server.shutdown();
  }
});

Deno.test("serveGateway() names the port and the option when the port is in use", async () => {
  const app = makeApp(chunks());
  const first = serveGateway(app, { port: 0, hostname: "127.0.0.1" });
  try {
    assert.throws(
      () => serveGateway(app, { port: first.port, hostname: "127.0.0.1" }),
      new Error(
        `Port ${first.port} is already in use (gateway); choose another with --Frontend.port=...`,
      ),
    );
  } finally {
    await first.shutdown();
  }
});

Deno.test("hostile bodies: invalid UTF-8 and deep nesting get their own 400s", async () => {
  const app = makeApp(chunks("x"));
  const utf8 = await post(
    app,
    new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
  );
  assert.equal(utf8.status, 400);
  assert.equal(await utf8.text(), errorBody("bad_request", "Body is not valid UTF-8"));
  const deep = await post(app, `{"a":${"[".repeat(100)}${"]".repeat(100)}}`);
  assert.equal(deep.status, 400);
  assert.equal(await deep.text(), errorBody("bad_request", "Body is nested deeper than 64 levels"));
  const fine = await post(
    app,
    `{"a":${"[".repeat(60)}${
      "]".repeat(60)
    }, "s": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}`,
  );
  assert.equal(fine.status, 200, "brackets inside strings do not count");
  await fine.body?.cancel();
});

Deno.test("a body that does not arrive within bodyTimeoutMs gets a 408 (slow-loris)", async () => {
  const clock = new ManualClock(0);
  const app = makeApp(chunks("x"), { clock, bodyTimeoutMs: 2_000 });
  let pulls = 0;
  const pulled = Promise.withResolvers<void>();
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulls++ === 0) {
        controller.enqueue(new TextEncoder().encode('{"prompt":'));
        pulled.resolve();
      }
      // then nothing more: the client trickles, or stalls
    },
  });
  const response = post(app, body, {}, { duplex: "half" } as RequestInit);
  await pulled.promise;
  clock.advance(2_000);
  const res = await response;
  assert.equal(res.status, 408);
  assert.equal(res.headers.get("connection"), "close");
  assert.equal(
    await res.text(),
    errorBody("request_timeout", "The request body did not arrive within 2000 ms"),
  );
});

Deno.test("with API keys, /generate and /health need a valid bearer key; probes stay open", async () => {
  const app = makeApp(chunks("ok"), { apiKeys: ["k-one", "k-two"] });
  const attempts: Record<string, string>[] = [
    {},
    { authorization: "Bearer wrong" },
    { authorization: "Basic k-one" },
  ];
  for (const headers of attempts) {
    const res = await post(app, '{"prompt":"p"}', headers);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="meshwork"');
    assert.equal(
      await res.text(),
      errorBody("unauthorized", 'A valid API key is required: send "Authorization: Bearer <key>"'),
    );
  }
  const ok = await post(app, '{"prompt":"p"}', { authorization: "Bearer k-two" });
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), "ok\n");
  assert.equal((await app.request("/health")).status, 401);
  for (const path of ["/live", "/ready", "/metrics"]) {
    const res = await app.request(path);
    assert.equal(res.status, 200, path);
    await res.body?.cancel();
  }
});
