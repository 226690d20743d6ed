/**
 * The mesh on real NATS and etcd, in one test process with separate connections per "process":
 * cancellation from an HTTP client that goes away, through the gateway and the router, to the
 * worker's `ctx.signal`.
 */

import assert from "node:assert/strict";
import { component } from "../../actors/component.ts";
import { connectEtcdRegistry } from "../../planes/etcd/etcd_registry.ts";
import { connectNatsBus } from "../../planes/nats/connect.ts";
import { Runtime } from "../../runtime/runtime.ts";
import { createGatewayApp } from "../../gateway/app.ts";
import { serveGateway } from "../../gateway/server.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { startNatsServer } from "../helpers/nats_server.ts";

async function runtimeOn(natsUrl: string, etcdUrl: string, hostname: string) {
  const bus = await connectNatsBus({ servers: natsUrl });
  const registry = await connectEtcdRegistry({ endpoints: etcdUrl });
  const runtime = new Runtime({ bus, registry, namespace: "cancel_test", hostname });
  return {
    runtime,
    async [Symbol.asyncDispose]() {
      await runtime.shutdown(500);
      await registry.close();
      await bus.close();
    },
  };
}

Deno.test("an HTTP client that disconnects mid-stream aborts the remote worker's handler", async () => {
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  await using worker = await runtimeOn(nats.url, etcd.endpoint, "node2");
  await using front = await runtimeOn(nats.url, etcd.endpoint, "node1");

  let produced = 0;
  let sawAbort!: (reason: unknown) => void;
  const aborted = new Promise<unknown>((resolve) => (sawAbort = resolve));
  let ended!: () => void;
  const handlerEnded = new Promise<void>((resolve) => (ended = resolve));
  const Ticker = component({
    name: "Ticker",
    endpoints: {
      async *generate(_request: unknown, ctx) {
        ctx.signal.addEventListener("abort", () => sawAbort(ctx.signal.reason), { once: true });
        try {
          while (!ctx.signal.aborted) {
            yield `tick ${produced++}`;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        } finally {
          ended();
        }
      },
    },
  });
  await worker.runtime.serve(Ticker);
  const client = front.runtime.client(Ticker);
  await client.waitForInstances(1, { timeoutMs: 10_000 });

  const app = createGatewayApp({
    generate: (body, ctx) =>
      client.generate(body, {
        requestId: ctx.requestId,
        deadline: ctx.deadline,
        signal: ctx.signal,
      }),
    health: () => ({}),
    ready: () => true,
  });
  const server = serveGateway(app, { port: 0, hostname: "127.0.0.1" });
  try {
    const controller = new AbortController();
    const response = await fetch(`http://127.0.0.1:${server.port}/generate`, {
      method: "POST",
      body: "{}",
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while ((text.match(/\n/g) ?? []).length < 3) {
      const { value, done } = await reader.read();
      assert.ok(!done, "stream ended early");
      text += value;
    }
    assert.match(text, /^tick 0\ntick 1\ntick 2\n/);
    controller.abort();
    await reader.cancel().catch(() => {});

    const reason = await aborted;
    assert.equal((reason as { code?: string }).code, "cancelled");
    await handlerEnded;
    // The handler returned within a few ticks of the disconnect instead of running on.
    assert.ok(produced < 50, `produced ${produced} chunks`);
  } finally {
    await server.shutdown();
  }
});
