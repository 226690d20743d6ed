/**
 * Routing policies: small objects with a `name` and a `pick()` over the live candidates.
 * A policy instance belongs to one client (round robin keeps its position there).
 *
 * | policy | picks |
 * |---|---|
 * | `round_robin` | each instance in turn |
 * | `random` | uniformly at random |
 * | `least_loaded` | the fewest calls in flight from this client (ties in turn) |
 * | `power_of_two` | the less loaded of two random instances |
 * | `consistent_hash` | the owner of the request's key on a hash ring (sticky) |
 * | `queue` | nobody: the request goes to the queue group, whichever instance takes it |
 *
 * `direct` is not a policy: it names the instance (`client.direct(request, id)`).
 *
 * @module
 */

import { HashRing } from "./hash_ring.ts";
import type { InstanceInfo } from "./instance_view.ts";

/** What a policy may consult besides the candidates. */
export interface PickContext {
  /** In-flight calls from this client to an instance. */
  inflight(instance: string): number;
  /** A routing key from the request (for sticky policies). */
  key?: string;
}

/** A routing policy. */
export interface RoutingPolicy {
  readonly name: string;
  /** Chooses one of `candidates` (never empty). */
  pick(candidates: readonly InstanceInfo[], context: PickContext): InstanceInfo;
}

/** Uniformly random. */
export class RandomPolicy implements RoutingPolicy {
  readonly name: string = "random";
  #random: () => number;
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }
  pick(candidates: readonly InstanceInfo[]): InstanceInfo {
    return candidates[Math.floor(this.#random() * candidates.length)]!;
  }
}

/** Each instance in turn, in the view's (instance-id) order. */
export class RoundRobinPolicy implements RoutingPolicy {
  readonly name = "round_robin";
  #next = 0;
  pick(candidates: readonly InstanceInfo[]): InstanceInfo {
    const chosen = candidates[this.#next % candidates.length]!;
    this.#next = (this.#next + 1) % 1_000_000_007;
    return chosen;
  }
}

/** The fewest in-flight calls from this client; tied instances take turns. */
export class LeastLoadedPolicy implements RoutingPolicy {
  readonly name = "least_loaded";
  #next = 0;
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

/** Two random choices; the one with fewer in-flight calls wins. */
export class PowerOfTwoPolicy implements RoutingPolicy {
  readonly name = "power_of_two";
  #random: () => number;
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }
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

/**
 * Sticky: the request's key (`session_id` by default) decides the instance on a hash ring, so the
 * same key keeps reaching the same instance while it lives. A request without a key goes to a
 * random instance.
 */
export class ConsistentHashPolicy implements RoutingPolicy {
  readonly name = "consistent_hash";
  #ring = new HashRing([]);
  #ids = "";
  #fallback = new RandomPolicy();
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

/**
 * The queue group: the request goes to the component's queue subject and whichever instance takes
 * it first answers. `pick()` is never asked; the client sends to the queue subject instead.
 */
export class QueuePolicy extends RandomPolicy {
  override readonly name = "queue";
}

/** Other spellings of policy names (the seeds write `round-robin`). */
export const POLICY_ALIASES: Readonly<Record<string, string>> = {
  "round-robin": "round_robin",
  roundrobin: "round_robin",
  "least-loaded": "least_loaded",
  "power-of-two": "power_of_two",
  p2c: "power_of_two",
  "consistent-hash": "consistent_hash",
};

/** The policy names a client accepts (besides `direct`, which takes an instance id). */
export const POLICY_NAMES = [
  "round_robin",
  "random",
  "least_loaded",
  "power_of_two",
  "consistent_hash",
  "queue",
] as const;

/** The canonical name of a policy, accepting the seeds' spellings. */
export function canonicalPolicyName(name: string): string {
  return POLICY_ALIASES[name] ?? name;
}

/** A fresh policy object by name; unknown names are a `TypeError` that lists the known ones. */
export function createPolicy(name: string): RoutingPolicy {
  switch (canonicalPolicyName(name)) {
    case "round_robin":
      return new RoundRobinPolicy();
    case "random":
      return new RandomPolicy();
    case "least_loaded":
      return new LeastLoadedPolicy();
    case "power_of_two":
      return new PowerOfTwoPolicy();
    case "consistent_hash":
      return new ConsistentHashPolicy();
    case "queue":
      return new QueuePolicy();
    default:
      throw new TypeError(
        `Unknown routing policy ${JSON.stringify(name)}: use one of ${POLICY_NAMES.join(", ")}`,
      );
  }
}
