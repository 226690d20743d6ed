import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { MESHWORK_VERSION, Runtime } from "../../runtime/runtime.ts";
import { component } from "../../actors/component.ts";
import { MeshError } from "../../protocol/errors.ts";
import { requestServices, requestServiceStats } from "../../runtime/service_discovery.ts";
import { registerRuntimeMetrics } from "../../runtime/runtime_metrics.ts";
import { checkCounterName } from "../../actors/endpoint_stats.ts";
import { MemoryWorkQueue } from "../../planes/memory/memory_work_queue.ts";

/** Echoes; `{fail: true}` fails with `bad_request`; `{tokens: n}` adds n to its counter. */
const Echo = component({
  name: "Echo",
  start(ctx) {
    const tokens = ctx.counter("tokens", "Tokens generated");
    return {
      generate(request: { fail?: boolean; tokens?: number }) {
        if (request.fail) throw new MeshError("bad_request", "asked to fail");
        tokens.add(request.tokens ?? 0);
        return request;
      },
      stream: async function* () {
        yield 1;
        yield 2;
      },
    };
  },
});

const Other = component({ name: "Other", endpoints: { generate: (request: unknown) => request } });

async function drain(stream: AsyncIterable<unknown>): Promise<unknown[]> {
  const chunks: unknown[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** A serving runtime and a caller runtime (another "process", so calls go over the bus). */
function twoProcesses() {
  const bus = new MemoryBus();
  const registry = new MemoryRegistry();
  const server = new Runtime({ bus, registry, namespace: "svc", hostname: "node1", pid: 11 });
  const caller = new Runtime({ bus: bus.connection(), registry, namespace: "svc" });
  return {
    bus,
    server,
    caller,
    async [Symbol.asyncDispose]() {
      await caller.shutdown(100);
      await server.shutdown(100);
      await caller.bus.close();
      await bus.close();
      await registry.close();
    },
  };
}

Deno.test("requestServiceStats lists every instance with the requests and errors it served", async () => {
  await using mesh = twoProcesses();
  const echoes = await mesh.server.serve(Echo, { instances: 2 });
  await mesh.server.serve(Other);
  const echo = mesh.caller.client("Echo");
  await echo.waitForInstances(2);
  const first = echoes[0]!.id;
  for (let i = 0; i < 3; i++) {
    await drain(echo.generate({ tokens: 5 }, { directTo: first }));
  }
  await assert.rejects(
    drain(echo.generate({ fail: true }, { directTo: first })),
    /asked to fail/,
  );
  const stream = mesh.caller.client("Echo", { endpoint: "stream" });
  await stream.waitForInstances(2);
  assert.deepEqual(await drain(stream.generate({}, { directTo: first })), [1, 2]);

  const all = await requestServiceStats(mesh.caller.bus);
  assert.deepEqual(all.map((s) => s.name).sort(), ["Echo", "Echo", "Other"]);
  const stats = (await requestServiceStats(mesh.caller.bus, { name: "Echo" }))
    .find((s) => s.id === first)!;
  assert.equal(stats.type, "io.nats.micro.v1.stats_response");
  assert.equal(stats.version, MESHWORK_VERSION);
  assert.deepEqual(stats.metadata, {
    namespace: "svc",
    hostname: "node1",
    pid: "11",
    meshwork: "true",
  });
  assert.ok(!Number.isNaN(Date.parse(stats.started)));
  const generate = stats.endpoints.find((e) => e.name === "generate")!;
  assert.equal(generate.subject, `mesh.svc.echo.generate.${first}`);
  assert.equal(generate.num_requests, 4);
  assert.equal(generate.num_errors, 1);
  assert.equal(generate.last_error, "asked to fail");
  assert.ok(generate.processing_time > 0);
  assert.equal(generate.average_processing_time, Math.round(generate.processing_time / 4));
  const streamed = stats.endpoints.find((e) => e.name === "stream")!;
  assert.equal(streamed.num_requests, 1);
  assert.equal(streamed.num_errors, 0);
  assert.equal(streamed.last_error, "");
});

Deno.test("PING and INFO answer per instance, by name and by id; a stopped instance is not listed", async () => {
  await using mesh = twoProcesses();
  const [a, b] = await mesh.server.serve(Echo, { instances: 2 });
  const pings = await requestServices(mesh.caller.bus, "PING", { name: "Echo" });
  assert.deepEqual(pings.map((p) => p.id).sort(), [a!.id, b!.id].sort());
  assert.ok(pings.every((p) => p.type === "io.nats.micro.v1.ping_response"));
  const [info, ...more] = await requestServices(mesh.caller.bus, "INFO", {
    name: "Echo",
    id: b!.id,
  });
  assert.equal(more.length, 0);
  assert.equal(info!.type, "io.nats.micro.v1.info_response");
  assert.deepEqual(info!.endpoints.map((e) => [e.name, e.subject, e.queue_group]), [
    ["generate", `mesh.svc.echo.generate.${b!.id}`, "echo"],
    ["stream", `mesh.svc.echo.stream.${b!.id}`, "echo"],
  ]);
  assert.deepEqual(await requestServices(mesh.caller.bus, "PING", { name: "Nobody" }), []);

  await a!.stop(100);
  const after = await requestServices(mesh.caller.bus, "PING");
  assert.deepEqual(after.map((p) => p.id), [b!.id]);
});

Deno.test("local calls are counted too, and /metrics shows per-instance requests, errors, latency and counters", async () => {
  await using mesh = twoProcesses();
  const registry = new Registry();
  registerRuntimeMetrics(registry, { runtime: mesh.server });
  const [echo] = await mesh.server.serve(Echo);
  const local = mesh.server.client("Echo");
  await local.waitForInstances(1);
  await drain(local.generate({ tokens: 7 }));
  await drain(local.generate({ tokens: 3 }));
  await assert.rejects(drain(local.generate({ fail: true })), /asked to fail/);
  const text = await registry.metrics();
  const labels = `component="Echo",endpoint="generate",instance="${echo!.id}"`;
  assert.match(text, new RegExp(`^mesh_requests_total\\{${labels}\\} 3$`, "m"));
  assert.match(text, new RegExp(`^mesh_request_errors_total\\{${labels}\\} 1$`, "m"));
  assert.match(
    text,
    new RegExp(`^mesh_request_duration_seconds_bucket\\{${labels},le="\\+Inf"\\} 3$`, "m"),
  );
  assert.match(text, new RegExp(`^mesh_request_duration_seconds_count\\{${labels}\\} 3$`, "m"));
  assert.match(text, /^# TYPE mesh_tokens_total counter$/m);
  assert.match(text, /^# HELP mesh_tokens_total Tokens generated$/m);
  assert.match(
    text,
    new RegExp(`^mesh_tokens_total\\{component="Echo",instance="${echo!.id}"\\} 10$`, "m"),
  );
  assert.match(
    text,
    new RegExp(`^mesh_inflight_requests\\{component="Echo",instance="${echo!.id}"\\} 0$`, "m"),
  );
});

Deno.test("requests taken from the work queue are counted like the others", async () => {
  const bus = new MemoryBus();
  const registry = new MemoryRegistry();
  const plane = new MemoryWorkQueue();
  const options = { registry, namespace: "svc" };
  const server = new Runtime({ ...options, bus, workQueue: plane.connection() });
  const caller = new Runtime({ ...options, bus: bus.connection(), workQueue: plane.connection() });
  try {
    const [echo] = await server.serve(Echo, {
      queue: { maxInflight: 2, maxDeliver: 3, ackWaitMs: 1000 },
    });
    const client = caller.client(Echo, { policy: "work_queue" });
    await client.waitForInstances(1, { quiet: true });
    for (let i = 0; i < 3; i++) assert.deepEqual(await drain(client.generate({ i })), [{ i }]);
    const [stats] = await requestServiceStats(caller.bus, { name: "Echo" });
    assert.equal(stats?.id, echo!.id);
    assert.equal(stats!.endpoints.find((e) => e.name === "generate")!.num_requests, 3);
  } finally {
    await caller.shutdown(100);
    await server.shutdown(100);
    await caller.bus.close();
    await bus.close();
    await plane.close();
    await registry.close();
  }
});

Deno.test("counter names are checked", () => {
  assert.equal(checkCounterName("tokens"), "tokens");
  assert.throws(() => checkCounterName("Tokens"), TypeError);
  assert.throws(() => checkCounterName("tokens_total"), TypeError);
  assert.throws(() => checkCounterName("requests"), /mesh's own/);
  assert.throws(() => checkCounterName("a-b"), TypeError);
});

Deno.test("requestServiceStats resolves with nothing when no instance listens", async () => {
  const bus = new MemoryBus();
  try {
    assert.deepEqual(await requestServiceStats(bus, { timeoutMs: 5000 }), []);
  } finally {
    await bus.close();
  }
});
