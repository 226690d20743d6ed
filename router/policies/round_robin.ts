/**
 * The `round_robin` policy: each instance in turn.
 *
 * @module
 */

import type { InstanceInfo } from "../../protocol/instance_info.ts";
import type { RoutingPolicy } from "./policy.ts";

/** Each instance in turn, in the view's (instance-id) order. */
export class RoundRobinPolicy implements RoutingPolicy {
  readonly name = "round_robin";
  #next = 0;

  /** The next candidate in turn. */
  pick(candidates: readonly InstanceInfo[]): InstanceInfo {
    const chosen = candidates[this.#next % candidates.length]!;
    this.#next = (this.#next + 1) % 1_000_000_007;
    return chosen;
  }
}
