/**
 * The `random` policy: an instance chosen uniformly at random.
 *
 * @module
 */

import type { InstanceInfo } from "../../protocol/instance_info.ts";
import { type Random, systemRandom } from "../../utils/random.ts";
import type { RoutingPolicy } from "./policy.ts";

/** Uniformly random, from an injected {@linkcode Random} source. */
export class RandomPolicy implements RoutingPolicy {
  readonly name: string = "random";
  #random: Random;

  constructor(random: Random = systemRandom) {
    this.#random = random;
  }

  /** A candidate chosen uniformly at random. */
  pick(candidates: readonly InstanceInfo[]): InstanceInfo {
    return candidates[Math.floor(this.#random() * candidates.length)]!;
  }
}
