/**
 * The `power_of_two` policy: two random choices, the less loaded one wins.
 *
 * @module
 */

import type { InstanceInfo } from "../../protocol/instance_info.ts";
import { type Random, systemRandom } from "../../utils/random.ts";
import type { PickContext, RoutingPolicy } from "./policy.ts";

/** Two distinct random choices; the one with fewer in-flight calls wins. */
export class PowerOfTwoPolicy implements RoutingPolicy {
  readonly name = "power_of_two";
  #random: Random;

  constructor(random: Random = systemRandom) {
    this.#random = random;
  }

  /** The less loaded of two distinct random candidates (the first on a tie). */
  pick(candidates: readonly InstanceInfo[], context: PickContext): InstanceInfo {
    const n = candidates.length;
    if (n === 1) return candidates[0]!;
    const i = Math.floor(this.#random() * n);
    const j = (i + 1 + Math.floor(this.#random() * (n - 1))) % n;
    const a = candidates[i]!;
    const b = candidates[j]!;
    return context.inflight(b.instance) < context.inflight(a.instance) ? b : a;
  }
}
