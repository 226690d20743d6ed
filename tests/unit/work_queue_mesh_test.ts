/**
 * Components served from the durable work queue on the embedded planes: in-process bus, registry
 * and work queue, several runtimes sharing them as separate processes would
 * (`tests/work_queue_mesh_cases.ts`).
 */

import assert from "node:assert/strict";
import { component } from "../../actors/component.ts";
import { MeshError } from "../../protocol/errors.ts";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { MemoryWorkQueue } from "../../planes/memory/memory_work_queue.ts";
import { Runtime } from "../../runtime/runtime.ts";
import { type QueueCluster, workQueueMeshCases } from "../work_queue_mesh_cases.ts";

function embedded(): Promise<QueueCluster> {
  const bus = new MemoryBus();
  const registry = new MemoryRegistry();
  const plane = new MemoryWorkQueue();
  const runtimes: Runtime[] = [];
  return Promise.resolve({
    runtime: (hostname: string) => {
      const runtime = new Runtime({
        bus: runtimes.length ? bus.connection() : bus,
        registry,
        namespace: "wq",
        hostname,
        workQueue: plane.connection(),
      });
      runtimes.push(runtime);
      return Promise.resolve(runtime);
    },
    async [Symbol.asyncDispose]() {
      for (const runtime of runtimes.reverse()) {
        await runtime.shutdown(100);
        await runtime.bus.close();
      }
      await plane.close();
      await registry.close();
    },
  });
}

workQueueMeshCases("embedded", embedded);

Deno.test("embedded: a work_queue call to instances that do not serve the queue fails at once, saying what to set", async () => {
  await using cluster = await embedded();
  const server = await cluster.runtime("node2");
  const caller = await cluster.runtime("node1");
  const Plain = component({ name: "Plain", endpoints: { generate: () => "never queued" } });
  await server.serve(Plain); // no ServiceArgs.queue
  const client = caller.client(Plain, { policy: "work_queue" });
  await client.waitForInstances(1, { quiet: true });
  const started = performance.now();
  await assert.rejects(
    async () => {
      for await (const _ of client.generate({})) { /* nothing arrives */ }
    },
    (error: unknown) =>
      error instanceof MeshError && error.code === "no_instances" &&
      /not served from its work queue: set ServiceArgs\.queue: true for Plain/.test(error.message),
  );
  assert.ok(performance.now() - started < 1000, "it did not wait for the deadline");
});
