/**
 * Seed 004's graph (`configs/llm_queue.yaml`) served by `serve` on the embedded planes: the
 * gateway's `POST /generate` answers with the generated text and the prompt id; `"stream": true`
 * streams the text as it comes; the model can be an OpenAI-compatible server (a fake one on a
 * loopback port here), whose streamed tokens become streamed chunks; bad input and a model server
 * that cannot be reached are clear errors; and after the end is signalled every worker finishes.
 */

import assert from "node:assert/strict";
import { type RunningMesh, serve } from "../../bin/serve.ts";
import { eventually } from "../helpers/eventually.ts";

const CONFIG = new URL("../../configs/llm_queue.yaml", import.meta.url).pathname;

async function start(overrides: string[] = []): Promise<RunningMesh & { url: string }> {
  const mesh = await serve({
    configPath: CONFIG,
    overrides: ["--chat.port=0", "--chat.host=127.0.0.1", ...overrides],
    env: { MESH_TELEMETRY_PORT: "0" },
    logLevel: "error",
    graceMs: 1000,
    nodeAgent: false,
  });
  return Object.assign(mesh, { url: `http://127.0.0.1:${mesh.gateway!.port}/generate` });
}

function post(url: string, body: unknown, accept = "*/*"): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept },
    body: JSON.stringify(body),
  });
}

/** A fake OpenAI-compatible server that streams `pieces` and records what it was asked. */
function fakeModelServer(pieces: string[]) {
  const asked: unknown[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    asked.push(await req.json());
    const events = pieces.map((text) =>
      `data: ${JSON.stringify({ choices: [{ text, index: 0, finish_reason: null }] })}\n\n`
    );
    return new Response(events.join("") + "data: [DONE]\n\n", {
      headers: { "content-type": "text/event-stream" },
    });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, asked, server };
}

Deno.test("llm_queue: POST /generate answers with the generated text, the prompt id and who answered", async () => {
  const mesh = await start();
  try {
    const response = await post(mesh.url, { prompt: "How do workers share the queue?" });
    const answer = await response.json();
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.match(answer.id, /^[0-9a-f]{24}$/);
    assert.equal(answer.prompt, "How do workers share the queue?");
    assert.ok(answer.text.length > 0 && answer.tokens > 0 && answer.tokens <= 40, answer.text);
    assert.equal(answer.model, "ngram-3");
    assert.equal(answer.delivery, 1);

    const bad = await post(mesh.url, { prompt: "" });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.message, /"prompt" must be a non-empty string/);
    const badTokens = await post(mesh.url, { prompt: "x", max_tokens: 0 });
    assert.equal(badTokens.status, 400);
    await badTokens.body?.cancel();
  } finally {
    await mesh.stop();
  }
});

Deno.test("llm_queue: an OpenAI-compatible model's streamed tokens become streamed chunks", async () => {
  const model = fakeModelServer([" Queues", " are", " shared", "."]);
  const mesh = await start([
    "--inference.model=openai",
    `--inference.model_url=${model.url}`,
    "--inference.model_name=tiny",
    "--inference.stream_every_ms=0",
  ]);
  try {
    const response = await post(
      mesh.url,
      { prompt: "Tell me", stream: true },
      "application/x-ndjson",
    );
    assert.equal(response.status, 200);
    const lines = (await response.text()).trim().split("\n").map((line) => JSON.parse(line));
    const deltas = lines.slice(0, -1).map((chunk) => chunk.delta);
    assert.deepEqual(deltas, [" Queues", " are", " shared", "."]);
    const last = lines.at(-1);
    assert.equal(last.text, "Queues are shared.");
    assert.equal(last.model, `openai:tiny at ${model.url}`);
    assert.deepEqual(
      (model.asked[0] as Record<string, unknown>).prompt,
      "Tell me",
    );
  } finally {
    await mesh.stop();
    await model.server.shutdown();
  }
});

Deno.test("llm_queue: a model server that cannot be reached is a clear 500, not a hang", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // nothing listens there now
  const mesh = await start([
    "--inference.model=openai",
    `--inference.model_url=http://127.0.0.1:${port}`,
  ]);
  try {
    const response = await post(mesh.url, { prompt: "anyone?" });
    assert.equal(response.status, 500);
    const { error } = await response.json();
    assert.match(error.message, /The model could not answer: Cannot reach the model server/);
  } finally {
    await mesh.stop();
  }
});

Deno.test("llm_queue: after the end is signalled and the queue is empty, every worker finishes", async () => {
  const mesh = await start();
  try {
    const response = await post(mesh.url, { prompt: "one before the end" });
    assert.equal(response.status, 200);
    await response.body?.cancel();
    const workers = () =>
      mesh.runtime.actors.filter((a) => a.definition.name !== "chat").map((a) => a.id);
    assert.equal(workers().length, 5);
    await mesh.runtime.queue("prompts").end();
    await eventually(
      "every inference and response worker has finished",
      () => workers().length === 0,
      { timeoutMs: 10_000 },
    );
    assert.ok(mesh.runtime.actors.some((a) => a.definition.name === "chat"), "the front stays");
  } finally {
    await mesh.stop();
  }
});
