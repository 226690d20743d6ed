/**
 * The gateway's live page, in-process: `/dashboard` is one self-contained HTML document,
 * `/dashboard/data` the mesh's snapshot (instances by host with their rates, in-flight, latency
 * and errors) on embedded planes, API keys guard both, and concurrent readers share a snapshot.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createGatewayApp } from "../../gateway/app.ts";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import type { InstanceInfo } from "../../protocol/instance_info.ts";
import { instanceKey } from "../../protocol/names.ts";
import {
  type MeshOverview,
  MeshOverviewSource,
  type MeshOverviewSourceOptions,
} from "../../runtime/mesh_overview.ts";
import { Runtime } from "../../runtime/runtime.ts";
import type { ServiceStats } from "../../runtime/service_discovery.ts";
import { ManualClock } from "../../utils/clock.ts";
import { Worker } from "../../examples/hello_world/graph.ts";

const NS = "dash";

function record(component: string, instance: string, hostname: string): InstanceInfo {
  return {
    namespace: NS,
    component,
    endpoint: "generate",
    instance,
    subject: `mesh.${NS}.${component.toLowerCase()}.generate.${instance}`,
    hostname,
    pid: 4242,
    startedAt: "2026-01-01T00:00:00.000Z",
    version: "0.1.0",
    meta: {},
  };
}

/** An ADR-32 stats answer with one `generate` endpoint. */
function stats(
  component: string,
  id: string,
  requests: number,
  options: { errors?: number; lastError?: string; processingMs?: number; inflight?: number } = {},
): ServiceStats {
  const processing = Math.round((options.processingMs ?? 0) * 1e6);
  return {
    type: "io.nats.micro.v1.stats_response",
    name: component,
    id,
    version: "0.1.0",
    metadata: { namespace: NS },
    started: "2026-01-01T00:00:00.000Z",
    endpoints: [{
      name: "generate",
      subject: `mesh.${NS}.${component.toLowerCase()}.generate.${id}`,
      queue_group: component,
      num_requests: requests,
      num_errors: options.errors ?? 0,
      last_error: options.lastError ?? "",
      processing_time: processing,
      average_processing_time: requests ? Math.round(processing / requests) : 0,
      ...(options.inflight === undefined ? {} : { data: { inflight: options.inflight } }),
    }],
  } as unknown as ServiceStats;
}

/** A runtime on embedded planes with a manual clock, and records put in its registry. */
async function fixture(records: InstanceInfo[]) {
  const clock = new ManualClock(Date.parse("2026-02-01T12:00:00Z"));
  const bus = new MemoryBus();
  const registry = new MemoryRegistry();
  const runtime = new Runtime({ bus, registry, namespace: NS, hostname: "gw", clock });
  for (const r of records) await registry.put(instanceKey(r, r.instance), JSON.stringify(r));
  return {
    clock,
    runtime,
    async [Symbol.asyncDispose]() {
      await runtime.shutdown(0);
      await bus.close();
      await registry.close();
    },
  };
}

function appOf(runtime: Runtime, options: MeshOverviewSourceOptions, apiKeys?: string[]) {
  const source = new MeshOverviewSource(runtime, options);
  return createGatewayApp({
    generate: async function* () {},
    health: () => ({}),
    ready: () => true,
    apiKeys,
    overview: () => source.latest(),
  });
}

async function data(app: ReturnType<typeof appOf>): Promise<MeshOverview> {
  const res = await app.request("/dashboard/data");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  return await res.json();
}

Deno.test("GET /dashboard serves one self-contained HTML page that polls /dashboard/data", async () => {
  await using f = await fixture([]);
  const app = appOf(f.runtime, { requestStats: () => Promise.resolve([]) });
  const res = await app.request("/dashboard");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  const html = await res.text();
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /fetch\("\/dashboard\/data"/);
  assert.match(html, /data-connection="connecting"/);
  assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=/i, "nothing loaded from elsewhere");
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, "no external URL");
});

Deno.test("/dashboard/data groups instances by host, with rates, latency, in-flight and new errors", async () => {
  await using f = await fixture([
    record("Worker", "w1", "node2"),
    record("Worker", "w2", "node3"),
    record("Processor", "p1", "node2"),
  ]);
  let answers = [
    stats("Worker", "w1", 10, { processingMs: 100, inflight: 2 }),
    stats("Worker", "w2", 4, { processingMs: 40 }),
    stats("Processor", "p1", 14),
    stats("Worker", "other-namespace", 99),
  ];
  (answers[3]!.metadata as Record<string, string>).namespace = "elsewhere";
  const app = appOf(f.runtime, { requestStats: () => Promise.resolve(answers) });

  const first = await data(app);
  assert.equal(first.namespace, NS);
  assert.equal(first.generatedAt, "2026-02-01T12:00:00.000Z");
  assert.deepEqual(first.hosts.map((h) => h.hostname), ["node2", "node3"]);
  assert.deepEqual(first.hosts[0]!.instances.map((i) => [i.component, i.id]), [
    ["Processor", "p1"],
    ["Worker", "w1"],
  ]);
  const w1 = first.hosts[0]!.instances[1]!;
  assert.deepEqual([w1.requests, w1.rate, w1.inflight, w1.avgLatencyMs], [10, 0, 2, 10]);
  assert.equal(first.hosts[1]!.instances[0]!.inflight, null, "not reported, not local");
  assert.deepEqual(first.recentErrors, []);

  f.clock.advance(2000);
  answers = [
    stats("Worker", "w1", 30, { processingMs: 500, inflight: 1 }),
    stats("Worker", "w2", 4, { processingMs: 40 }),
    stats("Processor", "p1", 34, { errors: 1, lastError: "Worker timed out" }),
  ];
  const second = await data(app);
  const byId = new Map(second.hosts.flatMap((h) => h.instances).map((i) => [i.id, i]));
  assert.equal(byId.get("w1")!.rate, 10, "20 more requests in 2 s");
  assert.equal(byId.get("w1")!.latencyMs, 20, "400 ms over those 20 requests");
  assert.equal(byId.get("w2")!.rate, 0);
  assert.equal(byId.get("p1")!.rate, 10);
  assert.deepEqual(second.components.map((c) => [c.name, c.instances, c.rate]), [
    ["Processor", 1, 10],
    ["Worker", 2, 10],
  ]);
  assert.deepEqual(second.recentErrors, [{
    at: "2026-02-01T12:00:02.000Z",
    instance: "p1",
    component: "Processor",
    endpoint: "generate",
    message: "Worker timed out",
    count: 1,
  }]);

  f.clock.advance(1000);
  const third = await data(app);
  assert.equal(third.recentErrors.length, 1, "the same error is not listed twice");
});

Deno.test("/dashboard/data reports local instances' in-flight and queue depths when the runtime has them", async () => {
  await using f = await fixture([]);
  const [actor] = await f.runtime.serve(Worker, { config: { delay_ms: 0 } });
  const probe = f.runtime as unknown as { queueDepths?: () => Promise<Map<string, number>> };
  const hadQueueDepths = typeof probe.queueDepths === "function";
  const app = appOf(f.runtime, { requestStats: () => Promise.resolve([]) });
  const snapshot = await data(app);
  const instance = snapshot.hosts[0]!.instances[0]!;
  assert.equal(instance.id, actor!.id);
  assert.equal(instance.hostname, "gw");
  assert.equal(instance.inflight, 0);
  assert.equal(instance.reporting, false);
  if (hadQueueDepths) assert.ok(Array.isArray(snapshot.queues));
  else assert.equal(snapshot.queues, null);
});

Deno.test("/dashboard/data counts what instances on other hosts served, asked over the embedded bus", async () => {
  const bus = new MemoryBus();
  const registry = new MemoryRegistry();
  const runtimes = ["node1", "node2", "node3"].map((hostname, i) =>
    new Runtime({ bus: i ? bus.connection() : bus, registry, namespace: NS, hostname })
  );
  try {
    const [gateway, node2, node3] = runtimes as [Runtime, Runtime, Runtime];
    const [a] = await node2.serve(Worker, { config: { delay_ms: 0 } });
    const [b] = await node3.serve(Worker, { config: { delay_ms: 0 } });
    const client = gateway.client("Worker", { policy: "round_robin" });
    await client.waitForInstances(2);
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) for await (const _ of client.generate({ prompt: "p" }));
    };
    const app = appOf(gateway, { maxAgeMs: 0, statsTimeoutMs: 50 });
    await send(4);
    const first = await data(app);
    assert.deepEqual(
      first.hosts.map((h) => [h.hostname, h.instances.map((i) => [i.id, i.requests, i.reporting])]),
      [["node2", [[a!.id, 2, true]]], ["node3", [[b!.id, 2, true]]]],
    );
    await send(6);
    const second = await data(app);
    for (const host of second.hosts) {
      const [instance] = host.instances;
      assert.equal(instance!.requests, 5);
      assert.ok(instance!.rate > 0, `${host.hostname}: rate ${instance!.rate}`);
      assert.ok(instance!.latencyMs !== null && instance!.latencyMs >= 0);
    }
  } finally {
    for (const runtime of runtimes.reverse()) {
      await runtime.shutdown(0);
      await runtime.bus.close();
    }
    await registry.close();
  }
});

Deno.test("concurrent readers share one snapshot taken within maxAgeMs", async () => {
  await using f = await fixture([record("Worker", "w1", "node2")]);
  let asked = 0;
  const app = appOf(f.runtime, {
    maxAgeMs: 1000,
    requestStats: () => (asked++, Promise.resolve([stats("Worker", "w1", asked)])),
  });
  const [a, b] = await Promise.all([data(app), data(app)]);
  assert.equal(asked, 1);
  assert.deepEqual(a, b);
  f.clock.advance(500);
  await data(app);
  assert.equal(asked, 1, "still fresh");
  f.clock.advance(600);
  const later = await data(app);
  assert.equal(asked, 2);
  assert.equal(later.hosts[0]!.instances[0]!.rate, 1 / 1.1);
});

Deno.test("with API keys the page takes ?key= and the data wants the bearer header", async () => {
  await using f = await fixture([]);
  const app = appOf(f.runtime, { requestStats: () => Promise.resolve([]) }, ["s3cret"]);
  assert.equal((await app.request("/dashboard")).status, 401);
  assert.equal((await app.request("/dashboard?key=wrong")).status, 401);
  assert.equal((await app.request("/dashboard?key=s3cret")).status, 200);
  assert.equal(
    (await app.request("/dashboard", { headers: { authorization: "Bearer s3cret" } })).status,
    200,
  );
  assert.equal((await app.request("/dashboard/data")).status, 401);
  assert.equal((await app.request("/dashboard/data?key=s3cret")).status, 401, "header only");
  const ok = await app.request("/dashboard/data", { headers: { authorization: "Bearer s3cret" } });
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).namespace, NS);
});

Deno.test("a gateway without an overview serves no dashboard", async () => {
  const app = createGatewayApp({
    generate: async function* () {},
    health: () => ({}),
    ready: () => true,
  });
  assert.equal((await app.request("/dashboard")).status, 404);
  assert.equal((await app.request("/dashboard/data")).status, 404);
});
