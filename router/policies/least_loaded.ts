/**
 * The `least_loaded` policy: the instance with the fewest calls in flight from this client.
 *
 * @module
 */

import type { InstanceInfo } from "../../protocol/instance_info.ts";
import type { PickContext, RoutingPolicy } from "./policy.ts";

/** The fewest in-flight calls from this client; tied instances take turns. */
export class LeastLoadedPolicy implements RoutingPolicy {
  readonly name = "least_loaded";
  #next = 0;

  /** A candidate with the fewest calls in flight, rotating among ties. */
  pick(candidates: readonly InstanceInfo[], context: PickContext): InstanceInfo {
    let least = Infinity;
    let tied: InstanceInfo[] = [];
    for (const candidate of candidates) {
      const load = context.inflight(candidate.instance);
      if (load < least) [least, tied] = [load, [candidate]];
      else if (load === least) tied.push(candidate);
    }
    return tied[this.#next++ % tied.length]!;
  }
}
