/**
 * What a component sees of a client to another component: the calls its start hook and handlers
 * make (`ctx.client(...)`, `ctx.deps.x` in a start hook). The runtime hands in the router's
 * clients, which have this shape; actors/ does not depend on how they route.
 *
 * @module
 */

import type { CallOptions, WaitOptions } from "../protocol/call_options.ts";
import type { InstanceInfo } from "../protocol/instance_info.ts";

/**
 * A client to one endpoint of another component: call it by its default policy, by a named
 * policy, or on one instance, and watch its live instances.
 *
 * @example
 * ```ts ignore
 * const workers = ctx.client(Worker, { policy: "random" });
 * await workers.waitForInstances(2, { signal: ctx.signal });
 * for await (const chunk of workers.generate({ prompt: "hi" })) console.log(chunk);
 * ```
 */
export interface ComponentClient {
  /** The live instances, ordered by instance id. */
  instances(): readonly InstanceInfo[];
  /** The ids of the live instances. */
  instanceIds(): string[];
  /** Waits until at least `count` instances are live; resolves with their ids. */
  waitForInstances(count: number, options?: WaitOptions): Promise<string[]>;
  /** Calls the endpoint with the client's default policy. */
  generate(request: unknown, options?: CallOptions): AsyncIterable<unknown>;
  /** Calls the next instance in turn. */
  roundRobin(request: unknown, options?: CallOptions): AsyncIterable<unknown>;
  /** Calls a random instance. */
  random(request: unknown, options?: CallOptions): AsyncIterable<unknown>;
  /** Calls one instance by id; an unknown id is a `not_found` error. */
  direct(request: unknown, instanceId: string, options?: CallOptions): AsyncIterable<unknown>;
}
