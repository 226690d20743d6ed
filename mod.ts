/**
 * Meshwork: an actor-model microservice mesh on Deno. Components are actors with mailbox subjects
 * on NATS, instances register in etcd under leases, and a Hono gateway fronts the graph. With
 * nothing configured, everything runs in one process on embedded planes.
 *
 * @example
 * ```ts
 * import { component, defineSchema, graph, MemoryBus, MemoryRegistry, Runtime, string } from "./mod.ts";
 *
 * const Greeter = component({
 *   name: "Greeter",
 *   config: defineSchema({ greeting: string({ default: "Hello" }) }),
 *   endpoints: {
 *     async *generate(request: { name: string }, ctx) {
 *       yield `${ctx.config.greeting} ${request.name}!`;
 *     },
 *   },
 * });
 * export default graph("demo", [Greeter]);
 *
 * const runtime = new Runtime({ bus: new MemoryBus(), registry: new MemoryRegistry(), namespace: "demo" });
 * await runtime.serve(Greeter, { config: { greeting: "Hi" } });
 * for await (const chunk of runtime.client(Greeter).generate({ name: "mesh" })) console.log(chunk);
 * await runtime.shutdown();
 * await runtime.bus.close();
 * await runtime.registry.close();
 * ```
 *
 * @module
 */

export { component, graph } from "./actors/component.ts";
export type { ComponentClient } from "./actors/caller.ts";
export type {
  ComponentDefinition,
  DependencyCaller,
  Endpoints,
  Graph,
  RequestContext,
  RequestData,
  StartContext,
} from "./actors/component.ts";
export { MeshError } from "./protocol/errors.ts";
export type { MeshErrorCode } from "./protocol/errors.ts";
export { Runtime } from "./runtime/runtime.ts";
export type { PutItemOptions, QueueItem, SharedQueue, TakeOptions } from "./actors/shared_queue.ts";
export { requestServiceStats } from "./runtime/service_discovery.ts";
export type { ServiceStats } from "./runtime/service_discovery.ts";
export type { RuntimeOptions, ServeOptions } from "./runtime/runtime.ts";
export { abortableDelay } from "./utils/abortable_delay.ts";
export { connectPlanes } from "./runtime/planes_preset.ts";
export { MemoryBus } from "./planes/memory/memory_bus.ts";
export { MemoryRegistry } from "./planes/memory/memory_registry.ts";
export { connectNatsBus } from "./planes/nats/connect.ts";
export { connectEtcdRegistry } from "./planes/etcd/etcd_registry.ts";
export {
  DataNotHeldError,
  DataPlaneError,
  DataRefusedError,
  DEFAULT_DATA_THRESHOLD,
  HolderUnreachableError,
} from "./planes/data_plane.ts";
export type {
  DataPlane,
  DataPlaneStats,
  Descriptor,
  PullOptions,
  PutOptions,
} from "./planes/data_plane.ts";
export { MemoryDataPlane } from "./planes/memory/memory_data_plane.ts";
export { TcpDataPlane } from "./planes/tcp/tcp_data_plane.ts";
export type { TcpDataPlaneOptions } from "./planes/tcp/tcp_data_plane.ts";
export type { DataPlaneSettings, Planes } from "./runtime/planes_preset.ts";
export { decodeTensor, encodeTensor, randomTensor, tensorMeta } from "./protocol/tensor.ts";
export type { Dtype, Tensor } from "./protocol/tensor.ts";
export type { CallOptions, WaitOptions } from "./protocol/call_options.ts";
export type { EndpointClient } from "./router/client.ts";
export { POLICY_NAMES } from "./router/policies/mod.ts";
export {
  boolean,
  defineSchema,
  integer,
  number,
  string,
  stringList,
} from "./actors/config_schema.ts";
