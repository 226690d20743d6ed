/**
 * Components served from the durable work queue on the embedded planes: in-process bus, registry
 * and work queue, several runtimes sharing them as separate processes would
 * (`tests/work_queue_mesh_cases.ts`).
 */

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
