/**
 * Seed 001's pipelines (`examples/simple_pipeline/`) on the embedded planes, through `serve()`
 * and a real socket: the exact answers, lines that arrive `sleep_time` apart, requests served in
 * parallel, two Backend instances taking turns, a disconnect that stops the Backend, bad input.
 */

import assert from "node:assert/strict";
import type { Actor } from "../../actors/actor.ts";
import { type RunningMesh, serve } from "../../bin/serve.ts";
import { eventually } from "../helpers/eventually.ts";

const DIR = new URL("../../examples/simple_pipeline/", import.meta.url).pathname;
const SIMPLE = `${DIR}simple_pipeline.ts`;
const ROUTED = `${DIR}routed_pipeline.ts`;
const CONFIG = `${DIR}config.yaml`;

type Mesh = RunningMesh & { url: string; backends: () => Actor[] };

async function start(
  graphPath: string,
  overrides: string[],
  configPath?: string,
): Promise<Mesh> {
  const mesh = await serve({
    graphPath,
    configPath,
    overrides: ["--Frontend.port=0", "--Frontend.host=127.0.0.1", ...overrides],
    env: {},
    logLevel: "error",
    graceMs: 1000,
  });
  return Object.assign(mesh, {
    url: `http://127.0.0.1:${mesh.gateway!.port}`,
    backends: () => mesh.runtime.actors.filter((actor) => actor.definition.name === "Backend"),
  });
}

/** `POST /generate` as curl sends it: JSON body, no `Accept`. */
function post(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/generate`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal,
  });
}

/** Reads a streamed text body line by line, noting when each line arrived (ms since `t0`). */
async function* timedLines(
  response: Response,
  t0: number,
): AsyncGenerator<{ line: string; at: number }> {
  let buffered = "";
  for await (const text of response.body!.pipeThrough(new TextDecoderStream())) {
    const at = performance.now() - t0;
    buffered += text;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      yield { line: buffered.slice(0, newline), at };
      buffered = buffered.slice(newline + 1);
    }
  }
  if (buffered !== "") yield { line: buffered, at: performance.now() - t0 };
}

/**
 * Checks that lines arrived one by one, `sleepMs` apart: line k (from 1) not before k × `sleepMs`
 * (the Backend waits before each word), and each gap between half and three times `sleepMs`
 * (generous: on a busy machine a late line shortens the gap after it).
 */
function assertPaced(arrivals: number[], sleepMs: number): void {
  const what = `arrivals ${arrivals.map(Math.round).join(", ")} ms for ${sleepMs} ms per word`;
  arrivals.forEach((at, i) => assert.ok(at >= (i + 1) * sleepMs - 5, what));
  for (let i = 1; i < arrivals.length; i++) {
    const gap = arrivals[i]! - arrivals[i - 1]!;
    assert.ok(gap >= sleepMs / 2 && gap <= sleepMs * 3, what);
  }
}

const round = (ms: number) => Math.round(ms);

Deno.test("simple pipeline: the seed's curl gets its three lines as text, sleep_time apart", async () => {
  const mesh = await start(SIMPLE, ["--Backend.sleep_time=0.2"]);
  try {
    // The first request after start-up also pays for connecting: keep it out of the timing.
    assert.equal(await (await post(mesh.url, { text: "warm-up" })).text(), "Hello warm-up!\n");
    const t0 = performance.now();
    const response = await post(mesh.url, { text: "world,universe,galaxy" });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
    const lines: { line: string; at: number }[] = [];
    for await (const line of timedLines(response, t0)) lines.push(line);
    assert.equal(
      lines.map((l) => `${l.line}\n`).join(""),
      "Hello world!\nHello universe!\nHello galaxy!\n",
    );
    assertPaced(lines.map((l) => l.at), 200);
  } finally {
    await mesh.stop();
  }
});

Deno.test("simple pipeline: the wait does not block the event loop; requests run in parallel", async () => {
  const mesh = await start(SIMPLE, ["--Backend.sleep_time=0.3"]);
  try {
    assert.equal(mesh.backends().length, 1, "both requests go to the one Backend instance");
    const t0 = performance.now();
    const answers = await Promise.all(
      ["a,b,c", "x,y,z"].map(async (text) => (await post(mesh.url, { text })).text()),
    );
    const elapsed = performance.now() - t0;
    assert.deepEqual(answers, ["Hello a!\nHello b!\nHello c!\n", "Hello x!\nHello y!\nHello z!\n"]);
    // One request takes 3 × 0.3 s; one after the other would take 1.8 s.
    assert.ok(elapsed >= 850 && elapsed < 1500, `took ${round(elapsed)} ms`);
  } finally {
    await mesh.stop();
  }
});

Deno.test("simple pipeline: bad input is a 400 with a clear message", async () => {
  const mesh = await start(SIMPLE, ["--Backend.sleep_time=0"]);
  try {
    for (const body of [{ text: 5 }, {}, { text: "" }, { prompt: "world" }]) {
      const response = await post(mesh.url, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.deepEqual(await response.json(), {
        error: {
          code: "bad_request",
          message: 'Field "text" is required and must be a non-empty string',
          retryable: false,
        },
      });
    }
    const response = await post(mesh.url, "world,universe");
    assert.equal(response.status, 400);
    assert.equal((await response.json()).error.message, "Body is not valid JSON");
  } finally {
    await mesh.stop();
  }
});

Deno.test("simple pipeline: a client that disconnects mid-stream stops the Backend", async () => {
  const mesh = await start(SIMPLE, ["--Backend.sleep_time=0.1"]);
  try {
    const [backend] = mesh.backends() as [Actor];
    const words = Array.from({ length: 10 }, (_, i) => `w${i}`).join(",");
    const controller = new AbortController();
    const t0 = performance.now();
    const response = await post(mesh.url, { text: words }, controller.signal);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const { value } = await reader.read();
    assert.equal(value, "Hello w0!\n");
    assert.equal(backend.inflightCount, 1, "the Backend is working on the other nine words");
    controller.abort();
    await reader.cancel().catch(() => {});
    // Left alone it would go on for 0.9 s more; cancelled, the request ends at once.
    await eventually("the request to end", () => backend.inflightCount === 0, {
      timeoutMs: 500,
      intervalMs: 10,
    });
    const ended = performance.now() - t0;
    assert.ok(ended < 900, `ended ${round(ended)} ms after the start`);
  } finally {
    await mesh.stop();
  }
});

Deno.test("routed pipeline with config.yaml: Goodnight lines, two Backends taking turns", async () => {
  const mesh = await start(ROUTED, ["--Backend.sleep_time=0.05"], CONFIG);
  try {
    const backends = mesh.backends();
    assert.equal(backends.length, 2, "config.yaml asks for two Backend workers");
    const response = await post(mesh.url, { text: "sun,moon,stars" });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(await response.text(), "Goodnight sun!\nGoodnight moon!\nGoodnight stars!\n");

    // Which instance serves a request shows while it is in flight: after the first line, the
    // Backend waits before the next word. Round robin alternates strictly.
    const servedBy: string[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await post(mesh.url, { text: "a,b,c,d,e" });
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      assert.equal((await reader.read()).value, "Goodnight a!\n");
      const busy = backends.filter((backend) => backend.inflightCount > 0).map((b) => b.id);
      assert.equal(busy.length, 1, `one Backend serves request ${i}`);
      servedBy.push(busy[0]!);
      let rest = "";
      for (let step = await reader.read(); !step.done; step = await reader.read()) {
        rest += step.value;
      }
      assert.equal(rest, "Goodnight b!\nGoodnight c!\nGoodnight d!\nGoodnight e!\n");
    }
    assert.equal(new Set(servedBy).size, 2, `served by ${servedBy.join(", ")}`);
    for (let i = 1; i < servedBy.length; i++) {
      assert.notEqual(servedBy[i], servedBy[i - 1], `served by ${servedBy.join(", ")}`);
    }
  } finally {
    await mesh.stop();
  }
});

Deno.test("routed pipeline: random routing and the seed's round-robin spelling", async () => {
  for (const mode of ["random", "round-robin"]) {
    const mesh = await start(
      ROUTED,
      ["--Backend.sleep_time=0", `--Frontend.routing_mode=${mode}`],
      CONFIG,
    );
    try {
      const response = await post(mesh.url, { text: "sun, moon ,stars" });
      assert.equal(await response.text(), "Goodnight sun!\nGoodnight moon!\nGoodnight stars!\n");
      const bad = await post(mesh.url, { text: 5 });
      assert.equal(bad.status, 400);
      assert.match((await bad.json()).error.message, /Field "text" is required/);
    } finally {
      await mesh.stop();
    }
  }
});
