/**
 * Prometheus HTTP service discovery on the embedded planes: scrape targets registered under the
 * process lease (`runtime/scrape_targets.ts`), served by the gateway at `GET /prometheus/targets`
 * (`gateway/routes/prometheus_sd.ts`) in Prometheus' `http_sd_configs` format, open without API
 * keys, registered again after a lost lease and gone with the process.
 */

import assert from "node:assert/strict";
import { createGatewayApp } from "../../gateway/app.ts";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { Runtime } from "../../runtime/runtime.ts";
import {
  listScrapeTargets,
  metricsPrefix,
  registerScrapeTarget,
} from "../../runtime/scrape_targets.ts";
import { ManualClock } from "../../utils/clock.ts";

function setup(namespace = "demo") {
  const clock = new ManualClock(0);
  const registry = new MemoryRegistry({ clock });
  const runtime = new Runtime({
    bus: new MemoryBus(),
    registry,
    namespace,
    hostname: "node1",
    pid: 4242,
    clock,
  });
  const app = createGatewayApp({
    async *generate() {},
    health: () => ({}),
    ready: () => true,
    apiKeys: ["s3cret"],
    scrapeTargets: () => listScrapeTargets(registry, runtime.namespace),
  });
  const sd = async () => {
    const response = await app.request("/prometheus/targets");
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
    return await response.json();
  };
  return { clock, registry, runtime, app, sd };
}

Deno.test("GET /prometheus/targets lists every registered metrics port as an HTTP SD target group, without an API key", async () => {
  const { registry, runtime, sd } = setup();
  try {
    assert.deepEqual(await sd(), []);
    await registerScrapeTarget(runtime, { role: "gateway", port: 8000, listenHost: "127.0.0.1" });
    await registerScrapeTarget(runtime, {
      role: "telemetry",
      port: 9400,
      listenHost: "0.0.0.0",
      advertise: "10.0.0.2",
    });
    assert.deepEqual(await sd(), [
      {
        targets: ["10.0.0.2:9400"],
        labels: { mesh_namespace: "demo", mesh_role: "telemetry", mesh_hostname: "node1" },
      },
      {
        targets: ["127.0.0.1:8000"],
        labels: { mesh_namespace: "demo", mesh_role: "gateway", mesh_hostname: "node1" },
      },
    ]);
    const value = JSON.parse(
      (await registry.getPrefix(`${metricsPrefix("demo")}127.0.0.1:8000`)).kvs[0]!.value,
    );
    assert.deepEqual(value, {
      address: "127.0.0.1:8000",
      role: "gateway",
      hostname: "node1",
      pid: 4242,
      namespace: "demo",
    });
  } finally {
    await runtime.shutdown(0);
    await registry.close();
  }
});

Deno.test("a scrape target is registered again after a lost lease and goes with the process", async () => {
  const { clock, registry, runtime, sd } = setup();
  try {
    await registerScrapeTarget(runtime, { role: "worker", port: 50000, listenHost: "127.0.0.1" });
    await registry.revokeLease(runtime.keeper.lease!); // etcd lost the lease: the key went with it
    assert.deepEqual(await sd(), []);
    clock.advance(4000);
    await runtime.keeper.renew();
    assert.deepEqual((await sd()).map((g: { targets: string[] }) => g.targets[0]), [
      "127.0.0.1:50000",
    ]);
    await runtime.shutdown(0); // revokes the lease
    assert.deepEqual(await sd(), []);
  } finally {
    await runtime.shutdown(0);
    await registry.close();
  }
});

Deno.test("targets of other namespaces are not listed; other methods get 405", async () => {
  const { registry, runtime, app, sd } = setup("one");
  const other = new Runtime({ bus: new MemoryBus(), registry, namespace: "two", hostname: "n2" });
  try {
    await registerScrapeTarget(other, { role: "worker", port: 50001, listenHost: "127.0.0.1" });
    await registry.put(`${metricsPrefix("one")}junk`, "not json");
    assert.deepEqual(await sd(), []);
    const post = await app.request("/prometheus/targets", { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  } finally {
    await other.shutdown(0);
    await runtime.shutdown(0);
    await registry.close();
  }
});

Deno.test("without scrapeTargets the gateway has no SD route", async () => {
  const app = createGatewayApp({ async *generate() {}, health: () => ({}), ready: () => true });
  const response = await app.request("/prometheus/targets");
  assert.equal(response.status, 404);
  await response.body?.cancel();
});
