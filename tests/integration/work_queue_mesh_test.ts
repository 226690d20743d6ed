/**
 * Components served from the durable work queue on real servers: a `nats-server -js` (its store
 * in a temporary directory) and etcd, started per case, with runtimes in this process on their
 * own connections, made by the planes preset (JetStream on the bus's NATS connection)
 * (`tests/work_queue_mesh_cases.ts`). Plus: a nats-server without JetStream still serves a graph
 * that uses no queue, and a queue-served component there fails to start with a clear error.
 */

import assert from "node:assert/strict";
import { component } from "../../actors/component.ts";
import { connectPlanes, type Planes } from "../../runtime/planes_preset.ts";
import { Runtime } from "../../runtime/runtime.ts";
import { silentLogger } from "../../utils/logger.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { type QueueCluster, workQueueMeshCases } from "../work_queue_mesh_cases.ts";

async function cluster(jetStream = true): Promise<QueueCluster> {
  const storeDir = await Deno.makeTempDir({ prefix: "meshq_mesh_" });
  const nats = await startNatsServer({ args: jetStream ? ["-js", "-sd", storeDir] : [] });
  const etcd = await startEtcd();
  const opened: { runtime: Runtime; planes: Planes }[] = [];
  return {
    runtime: async (hostname: string) => {
      const planes = await connectPlanes({
        nats: { servers: [nats.url] },
        etcd: { endpoints: [etcd.endpoint] },
        logger: silentLogger,
      });
      const runtime = new Runtime({
        bus: planes.bus,
        registry: planes.registry,
        namespace: "wq",
        hostname,
        workQueue: planes.workQueue,
      });
      opened.push({ runtime, planes });
      return runtime;
    },
    async [Symbol.asyncDispose]() {
      for (const { runtime, planes } of opened.reverse()) {
        await runtime.shutdown(100);
        await planes.close();
      }
      await etcd[Symbol.asyncDispose]();
      await nats.stop();
      await Deno.remove(storeDir, { recursive: true });
    },
  };
}

workQueueMeshCases("nats+etcd", () => cluster());

Deno.test("nats+etcd without JetStream: plain calls work; a queue-served component fails to start clearly", async () => {
  await using c = await cluster(false);
  const runtime = await c.runtime("node1");
  const Plain = component({ name: "Plain", endpoints: { generate: () => "ok" } });
  await runtime.serve(Plain);
  const chunks: unknown[] = [];
  for await (const chunk of runtime.client(Plain).generate({})) chunks.push(chunk);
  assert.deepEqual(chunks, ["ok"]);
  const Queued = component({ name: "Queued", endpoints: { generate: () => "no" } });
  await assert.rejects(
    runtime.serve(Queued, { queue: { maxInflight: 1, maxDeliver: 3, ackWaitMs: 1000 } }),
    /JetStream is not enabled.*-js/,
  );
});
