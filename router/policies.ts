/**
 * Routing policies: small objects with a `name` and a `pick()` over the live candidates.
 * A policy instance belongs to one client (round robin keeps its position there).
 *
 * @module
 */

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
  readonly name = "random";
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

/** Policy names and the spellings the seeds use. */
const ALIASES: Record<string, string> = {
  "round-robin": "round_robin",
  roundrobin: "round_robin",
  rr: "round_robin",
};

/** The policy names a client accepts (besides `direct`, which takes an instance id). */
export const POLICY_NAMES = ["round_robin", "random"] as const;

/** The canonical name of a policy, accepting the seeds' spellings. */
export function canonicalPolicyName(name: string): string {
  return ALIASES[name] ?? name;
}

/** A fresh policy object by name; unknown names are a `TypeError` that lists the known ones. */
export function createPolicy(name: string): RoutingPolicy {
  switch (canonicalPolicyName(name)) {
    case "round_robin":
      return new RoundRobinPolicy();
    case "random":
      return new RandomPolicy();
    default:
      throw new TypeError(
        `Unknown routing policy ${JSON.stringify(name)}: use one of ${POLICY_NAMES.join(", ")}`,
      );
  }
}
