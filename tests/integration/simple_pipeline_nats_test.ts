/**
 * Seed 001's pipelines on real nats-server and etcd, with the Backend and the Frontend in
 * different runtimes: streaming and cancellation over the bus (two `serve()` in this process,
 * each with its own connections), then the routed pipeline started the way a user starts it,
 * Backend workers in one process and the gateway in another.
 */

import assert from "node:assert/strict";
import type { Actor } from "../../actors/actor.ts";
import { serve } from "../../bin/serve.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { eventually } from "../helpers/eventually.ts";
import { freePort } from "../helpers/free_port.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";
import { startNatsServer } from "../helpers/nats_server.ts";

const SIMPLE = new URL("../../examples/simple_pipeline/simple_pipeline.ts", import.meta.url)
  .pathname;

function post(port: number, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/generate`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
}

/** Lines arrived `sleepMs` apart (as in tests/unit/simple_pipeline_test.ts). */
function assertPaced(arrivals: number[], sleepMs: number): void {
  const what = `arrivals ${arrivals.map(Math.round).join(", ")} ms for ${sleepMs} ms per word`;
  arrivals.forEach((at, i) => assert.ok(at >= (i + 1) * sleepMs - 5, what));
  for (let i = 1; i < arrivals.length; i++) {
    const gap = arrivals[i]! - arrivals[i - 1]!;
    assert.ok(gap >= sleepMs / 2 && gap <= sleepMs * 3, what);
  }
}

Deno.test("simple pipeline over NATS: lines stream sleep_time apart; a disconnect stops the remote Backend", async () => {
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  const env = { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
  const settings = { graphPath: SIMPLE, env, logLevel: "error" as const, graceMs: 1000 };
  const back = await serve({
    ...settings,
    only: ["Backend"],
    overrides: ["--Backend.sleep_time=0.2"],
  });
  try {
    const front = await serve({
      ...settings,
      only: ["Frontend"],
      overrides: ["--Frontend.port=0", "--Frontend.host=127.0.0.1"],
    });
    try {
      assert.equal(front.planes.mode, "cluster");
      const port = front.gateway!.port;
      const [backend] = back.runtime.actors as [Actor];
      assert.equal(backend.definition.name, "Backend");
      assert.deepEqual(front.runtime.actors.map((a) => a.definition.name), ["Frontend"]);

      // The exact answer, its lines arriving one by one. The first request after start-up also
      // pays for connecting: keep it out of the timing.
      assert.equal(await (await post(port, { text: "warm-up" })).text(), "Hello warm-up!\n");
      const t0 = performance.now();
      const response = await post(port, { text: "world,universe,galaxy" });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
      let body = "";
      const arrivals: number[] = [];
      for await (const text of response.body!.pipeThrough(new TextDecoderStream())) {
        body += text;
        for (const _ of text.matchAll(/\n/g)) arrivals.push(performance.now() - t0);
      }
      assert.equal(body, "Hello world!\nHello universe!\nHello galaxy!\n");
      assertPaced(arrivals, 200);

      // A client that goes away after the first line: the cancel crosses the bus.
      const controller = new AbortController();
      const started = performance.now();
      const long = await post(port, { text: "a,b,c,d,e,f,g,h,i,j" }, controller.signal);
      const reader = long.body!.pipeThrough(new TextDecoderStream()).getReader();
      assert.equal((await reader.read()).value, "Hello a!\n");
      assert.equal(backend.inflightCount, 1);
      controller.abort();
      await reader.cancel().catch(() => {});
      await eventually("the remote Backend to stop serving", () => backend.inflightCount === 0, {
        timeoutMs: 1000,
        intervalMs: 10,
      });
      // Uncancelled, it would run for 2 s.
      assert.ok(performance.now() - started < 1500);
    } finally {
      await front.stop();
    }
  } finally {
    await back.stop();
  }
});

Deno.test("routed pipeline over NATS: two Backend workers in one process, the gateway in another", async () => {
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  const env = { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
  const graph = ["--graph", "examples/simple_pipeline/routed_pipeline.ts"];
  const config = ["--config", "examples/simple_pipeline/config.yaml"];
  await using workers = spawnMesh(
    [
      "worker",
      ...graph,
      "--component",
      "Backend",
      "--instances",
      "2",
      ...config,
      "--Backend.sleep_time=0.05",
    ],
    { env },
  );
  await workers.waitForOutput(/Meshwork serving simple_pipeline: Backend x2; cluster planes/);
  const ids = [...workers.output().matchAll(/Instance ready component=Backend instance=(\w+)/g)]
    .map((m) => m[1]!);
  assert.equal(new Set(ids).size, 2, workers.output());

  const port = await freePort();
  await using front = spawnMesh(
    ["serve", ...graph, ...config, "--only", "Frontend", `--Frontend.port=${port}`],
    { env },
  );
  await front.waitForOutput(/Meshwork serving simple_pipeline: Frontend x1; gateway on/);

  for (let i = 0; i < 4; i++) {
    const response = await post(port, { text: "sun,moon,stars" });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(await response.text(), "Goodnight sun!\nGoodnight moon!\nGoodnight stars!\n");
  }
  // The workers' log is where a user sees the turns: one line per request, naming the instance.
  await workers.waitForOutput(/(?:Backend serving a request[^]*?){4}/);
  const servedBy = [
    ...workers.output().matchAll(/Backend serving a request component=Backend instance=(\w+)/g),
  ].map((m) => m[1]!);
  assert.equal(servedBy.length, 4, workers.output());
  assert.deepEqual(new Set(servedBy), new Set(ids), workers.output());
  for (let i = 1; i < servedBy.length; i++) assert.notEqual(servedBy[i], servedBy[i - 1]);

  const bad = await post(port, { text: 5 });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error.message, /Field "text" is required/);

  front.kill("SIGTERM");
  workers.kill("SIGTERM");
  assert.equal((await front.status).code, 0, front.output());
  assert.equal((await workers.status).code, 0, workers.output());
});
