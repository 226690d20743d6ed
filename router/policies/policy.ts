/**
 * The routing policy interface: a small object with a `name` and a `pick()` over the live
 * candidates. A policy object belongs to one client (round robin keeps its position there).
 *
 * @module
 */

import type { InstanceInfo } from "../../protocol/instance_info.ts";

/** What a policy may consult besides the candidates. */
export interface PickContext {
  /** In-flight calls from this client to an instance. */
  inflight(instance: string): number;
  /** A routing key from the request (for sticky policies). */
  key?: string;
}

/**
 * A routing policy. One that sets `viaQueueGroup` sends each request to the component's queue
 * subject instead of the instance it picks (whichever instance takes it first answers); its
 * `pick()` only tells the client that an instance is live.
 */
export interface RoutingPolicy {
  readonly name: string;
  /** The request goes to the queue group, not to the picked instance. Default false. */
  readonly viaQueueGroup?: boolean;
  /** Chooses one of `candidates` (never empty). */
  pick(candidates: readonly InstanceInfo[], context: PickContext): InstanceInfo;
}
