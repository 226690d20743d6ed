/**
 * The `consistent_hash` policy: the owner of the request's key on a hash ring (sticky).
 *
 * @module
 */

import type { InstanceInfo } from "../../protocol/instance_info.ts";
import type { Random } from "../../utils/random.ts";
import { HashRing } from "./hash_ring.ts";
import type { PickContext, RoutingPolicy } from "./policy.ts";
import { RandomPolicy } from "./random.ts";

/**
 * Sticky: the request's key (`session_id` by default) decides the instance on a hash ring, so the
 * same key keeps reaching the same instance while it lives. A request without a key goes to a
 * random instance.
 */
export class ConsistentHashPolicy implements RoutingPolicy {
  readonly name = "consistent_hash";
  #ring = new HashRing([]);
  #ids = "";
  #fallback: RandomPolicy;

  /**
   * `random` serves requests without a key. Default: `Math.random` as it is when the policy is
   * built (the tests script it for that moment).
   */
  constructor(random: Random = Math.random) {
    this.#fallback = new RandomPolicy(random);
  }

  /** The owner of the key on the ring of the candidates; a random candidate without a key. */
  pick(candidates: readonly InstanceInfo[], context: PickContext): InstanceInfo {
    if (context.key === undefined) return this.#fallback.pick(candidates);
    let ids = "";
    for (const candidate of candidates) ids += `${candidate.instance},`;
    if (ids !== this.#ids) {
      this.#ring = new HashRing(candidates.map((c) => c.instance));
      this.#ids = ids;
    }
    const owner = this.#ring.owner(context.key);
    return candidates.find((c) => c.instance === owner) ?? candidates[0]!;
  }
}
