/**
 * `serve()` on the embedded planes, through a real socket: the quick start's answers and every
 * bad-input case a user can hit.
 */

import assert from "node:assert/strict";
import { type RunningMesh, serve } from "../../bin/serve.ts";

async function start(...overrides: string[]): Promise<RunningMesh & { url: string }> {
  const mesh = await serve({
    configPath: "configs/multi_worker.yaml",
    overrides: ["--Frontend.port=0", "--Frontend.host=127.0.0.1", ...overrides],
    env: { MESH_HOSTNAME: "testhost" },
    logLevel: "error",
    graceMs: 1000,
  });
  return Object.assign(mesh, { url: `http://127.0.0.1:${mesh.gateway!.port}` });
}

function post(url: string, body: BodyInit, headers: Record<string, string> = {}) {
  return fetch(`${url}/generate`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body,
  });
}

const PROMPT = JSON.stringify({ prompt: "test prompt", request_id: "id_number" });
const ANSWER =
  `{"worker_output":"test prompt_ProcessedBy_testhost_GeneratedBy_testhost","request_id":"id_number"}`;

Deno.test("serve answers the quick start's curl as JSON with a Content-Length, for */* and application/json, and as an SSE event", async () => {
  const mesh = await start();
  try {
    let response = await post(mesh.url, PROMPT);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.equal(response.headers.get("content-length"), String(ANSWER.length));
    assert.equal(await response.text(), ANSWER);
    response = await post(mesh.url, PROMPT, { accept: "application/json" });
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.equal(response.headers.get("content-length"), String(ANSWER.length));
    assert.equal(await response.text(), ANSWER);
    response = await post(mesh.url, PROMPT, { accept: "text/event-stream" });
    assert.equal(response.headers.get("content-type")?.split(";")[0], "text/event-stream");
    assert.equal(await response.text(), `data: ${ANSWER}\n\n`);
  } finally {
    await mesh.stop();
  }
});

Deno.test("serve maps bad requests to clear JSON errors with the right status", async () => {
  const mesh = await start("--Frontend.max_body_bytes=1024");
  try {
    const cases: [string, Response, number, string][] = [
      ["invalid JSON", await post(mesh.url, "{nope"), 400, "bad_request"],
      ["missing prompt", await post(mesh.url, "{}"), 400, "bad_request"],
      ["prompt of the wrong type", await post(mesh.url, '{"prompt":7}'), 400, "bad_request"],
      ["wrong method", await fetch(`${mesh.url}/generate`), 405, "method_not_allowed"],
      ["unknown path", await fetch(`${mesh.url}/nope`, { method: "POST" }), 404, "not_found"],
      [
        "oversized body",
        await post(mesh.url, JSON.stringify({ prompt: "x".repeat(2000) })),
        413,
        "payload_too_large",
      ],
    ];
    for (const [what, response, status, code] of cases) {
      const body = await response.json();
      assert.equal(response.status, status, what);
      assert.equal(body.error.code, code, what);
      assert.equal(typeof body.error.message, "string", what);
      assert.doesNotMatch(body.error.message, /\n\s+at /, `${what}: no stack trace`);
    }
    const allow = (await fetch(`${mesh.url}/generate`, { method: "PUT" })).headers.get("allow");
    assert.equal(allow, "POST");
  } finally {
    await mesh.stop();
  }
});

Deno.test("serve answers 503 with Retry-After when no worker is ready within the wait", async () => {
  const mesh = await start("--Processor.min_workers=3", "--Processor.wait_ms=50");
  try {
    const response = await post(mesh.url, PROMPT);
    assert.equal(response.status, 503);
    assert.ok(Number(response.headers.get("retry-after")) >= 1);
    const body = await response.json();
    assert.equal(body.error.code, "no_instances");
    assert.match(body.error.message, /Current: 2, Required: 3/);
  } finally {
    await mesh.stop();
  }
});

Deno.test("serve reports /live, /ready and the instances at /health", async () => {
  const mesh = await start();
  try {
    assert.equal((await fetch(`${mesh.url}/live`)).status, 200);
    await (await fetch(`${mesh.url}/live`)).body?.cancel();
    const ready = await fetch(`${mesh.url}/ready`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
    // The view fills from the registry watch: ask until all four instances show (bounded).
    let components: string[] = [];
    for (let i = 0; i < 50 && components.length < 4; i++) {
      const health = await (await fetch(`${mesh.url}/health`)).json();
      components = health.instances.map((i: { component: string }) => i.component).sort();
    }
    assert.deepEqual(components, ["Frontend", "Processor", "Worker", "Worker"]);
  } finally {
    await mesh.stop();
  }
});

Deno.test("the worker command runs Worker, or else the graph's only non-HTTP component", async () => {
  for (
    const [graphPath, expected] of [
      ["examples/hello_world/graph.ts", "Worker"],
      ["examples/simple_pipeline/simple_pipeline.ts", "Backend"],
    ]
  ) {
    const mesh = await serve({
      graphPath,
      only: "worker",
      instances: 1,
      env: {},
      logLevel: "error",
    });
    try {
      assert.deepEqual(mesh.runtime.actors.map((a) => a.definition.name), [expected]);
      assert.equal(mesh.gateway, undefined);
    } finally {
      await mesh.stop();
    }
  }
});

Deno.test("a worker process answers /live, /ready and /metrics on its status port", async () => {
  const mesh = await serve({
    only: "worker",
    instances: 2,
    statusPort: 0,
    env: {},
    logLevel: "error",
  });
  try {
    const base = `http://127.0.0.1:${mesh.status!.port}`;
    const live = await fetch(`${base}/live`);
    assert.equal(live.status, 200);
    await live.body?.cancel();
    const ready = await fetch(`${base}/ready`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
    mesh.runtime.actors[0]!.fail(new Error("injected")); // a supervisor decision to count
    const until = Date.now() + 5000;
    let text = "";
    // The failed instance is restarted after a short backoff: wait (bounded) until it is back.
    while (
      !/mesh_supervisor_restarts_total\{supervisor="Worker"\} 1/.test(text) ||
      !/^mesh_instances\{component="Worker"\} 2$/m.test(text)
    ) {
      assert.ok(Date.now() < until, text);
      text = await (await fetch(`${base}/metrics`)).text();
    }
    assert.match(text, /^mesh_instances\{component="Worker"\} 2$/m);
    assert.match(text, /^mesh_inflight_requests\{component="Worker",instance="[0-9a-f]+"\} 0$/m);
  } finally {
    await mesh.stop();
  }
});

Deno.test("MESH_LEASE_TTL_S sets the lease TTL; a bad value names the variable", async () => {
  const mesh = await serve({ only: "worker", env: { MESH_LEASE_TTL_S: "3" }, logLevel: "error" });
  try {
    assert.equal(mesh.runtime.keeper.ttlSeconds, 3);
  } finally {
    await mesh.stop();
  }
  await assert.rejects(
    serve({ only: "worker", env: { MESH_LEASE_TTL_S: "0" }, logLevel: "error" }),
    /^ConfigError: MESH_LEASE_TTL_S: expected a whole number from 1 to 3600, got "0"$/,
  );
});
