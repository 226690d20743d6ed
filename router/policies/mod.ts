/**
 * Routing policies, by name: one file per policy, and one name→factory map here. Adding a policy
 * is one file plus one entry in {@linkcode POLICIES}.
 *
 * | policy | picks |
 * |---|---|
 * | `round_robin` | each instance in turn |
 * | `random` | uniformly at random |
 * | `least_loaded` | the fewest calls in flight from this client (ties in turn) |
 * | `power_of_two` | the less loaded of two random instances |
 * | `consistent_hash` | the owner of the request's key on a hash ring (sticky) |
 * | `queue` | nobody: the request goes to the queue group, whichever instance takes it |
 * | `work_queue` | nobody: the request is stored in the durable work queue, whichever instance pulls it |
 *
 * `direct` is not a policy: it names the instance (`client.direct(request, id)`).
 *
 * @example
 * ```ts
 * import { createPolicy } from "./mod.ts";
 * const policy = createPolicy("round-robin");
 * console.assert(policy.name === "round_robin");
 * ```
 *
 * @module
 */

import type { Random } from "../../utils/random.ts";
import { ConsistentHashPolicy } from "./consistent_hash.ts";
import { LeastLoadedPolicy } from "./least_loaded.ts";
import type { RoutingPolicy } from "./policy.ts";
import { PowerOfTwoPolicy } from "./power_of_two.ts";
import { QueuePolicy } from "./queue.ts";
import { RandomPolicy } from "./random.ts";
import { RoundRobinPolicy } from "./round_robin.ts";
import { WorkQueuePolicy } from "./work_queue.ts";

export type { PickContext, RoutingPolicy } from "./policy.ts";
export { RoundRobinPolicy } from "./round_robin.ts";
export { RandomPolicy } from "./random.ts";
export { LeastLoadedPolicy } from "./least_loaded.ts";
export { PowerOfTwoPolicy } from "./power_of_two.ts";
export { ConsistentHashPolicy } from "./consistent_hash.ts";
export { QueuePolicy } from "./queue.ts";
export { WorkQueuePolicy } from "./work_queue.ts";

/** Makes a fresh policy object; `random` is given only when the caller injects a source. */
export type PolicyFactory = (random?: Random) => RoutingPolicy;

/** Every policy a client accepts, by canonical name. */
export const POLICIES = {
  round_robin: () => new RoundRobinPolicy(),
  random: (random) => new RandomPolicy(random),
  least_loaded: () => new LeastLoadedPolicy(),
  power_of_two: (random) => new PowerOfTwoPolicy(random),
  consistent_hash: (random) => new ConsistentHashPolicy(random),
  queue: (random) => new QueuePolicy(random),
  work_queue: (random) => new WorkQueuePolicy(random),
} as const satisfies Record<string, PolicyFactory>;

/** A canonical policy name. */
export type PolicyName = keyof typeof POLICIES;

/** Other spellings of policy names (the seeds write `round-robin`). */
export const POLICY_ALIASES: Readonly<Record<string, PolicyName>> = {
  "round-robin": "round_robin",
  roundrobin: "round_robin",
  "least-loaded": "least_loaded",
  "power-of-two": "power_of_two",
  p2c: "power_of_two",
  "consistent-hash": "consistent_hash",
  "work-queue": "work_queue",
};

/** The policy names a client accepts (besides `direct`, which takes an instance id). */
export const POLICY_NAMES: readonly PolicyName[] = Object.keys(POLICIES) as PolicyName[];

/** The canonical name of a policy, accepting the seeds' spellings. */
export function canonicalPolicyName(name: string): string {
  return POLICY_ALIASES[name] ?? name;
}

/**
 * A fresh policy object by name (or alias); unknown names are a `TypeError` that lists the known
 * ones. `random` replaces the system source of the policies that draw at random.
 */
export function createPolicy(name: string, random?: Random): RoutingPolicy {
  const canonical = canonicalPolicyName(name);
  if (!Object.hasOwn(POLICIES, canonical)) {
    throw new TypeError(
      `Unknown routing policy ${JSON.stringify(name)}: use one of ${POLICY_NAMES.join(", ")}`,
    );
  }
  return POLICIES[canonical as PolicyName](random);
}
