/**
 * An observer of a running mesh: a runtime of the test's own on the mesh's NATS and etcd (its own
 * connections, like another process), serving nothing, to look at instances (`view`), call them,
 * and use the namespace's shared queues.
 *
 * @module
 */

import { connectPlanes } from "../../runtime/planes_preset.ts";
import { Runtime } from "../../runtime/runtime.ts";
import type { InstanceView } from "../../router/instance_view.ts";
import { silentLogger } from "../../utils/logger.ts";

/** A runtime connected to a mesh, closed with `await using`. */
export interface Observer extends AsyncDisposable {
  runtime: Runtime;
  /** The live instances of `component`'s `generate` endpoint. */
  view(component: string): InstanceView;
}

/** Connects an observer to the mesh at `natsUrl` / `etcdEndpoint`, in `namespace`. */
export async function observeMesh(
  natsUrl: string,
  etcdEndpoint: string,
  namespace: string,
): Promise<Observer> {
  const planes = await connectPlanes({
    nats: { servers: [natsUrl] },
    etcd: { endpoints: [etcdEndpoint] },
    logger: silentLogger,
  });
  const runtime = new Runtime({
    bus: planes.bus,
    registry: planes.registry,
    namespace,
    workQueue: planes.workQueue,
    logger: silentLogger,
  });
  return {
    runtime,
    view: (component) => runtime.view({ namespace, component, endpoint: "generate" }),
    async [Symbol.asyncDispose]() {
      await runtime.shutdown(0);
      await planes.close();
    },
  };
}
