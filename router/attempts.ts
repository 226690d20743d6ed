/**
 * The attempts of one call: after an attempt fails, whether the call moves on (to another
 * instance, or resuming a stream elsewhere) or fails. What the call learnt about the instances
 * so far (tried, busy) steers the next pick.
 *
 * @module
 */

import { MeshError } from "../protocol/errors.ts";
import type { InstanceInfo } from "../protocol/instance_info.ts";
import { NotDeliveredError } from "../protocol/not_delivered_error.ts";
import type { Logger } from "../utils/logger.ts";

/** The limits of one call's attempts (from the client's settings). */
export interface AttemptLimits {
  /** Tries per call, counting the first. */
  maxAttempts: number;
  /** How often a `resumable` stream may move to another instance. */
  migrationLimit: number;
}

/** How one attempt ended, besides its error. */
export interface AttemptOutcome {
  /** The instance it went to; undefined for the queue group. */
  target: InstanceInfo | undefined;
  /** Whether the instance runs in this process (it is not marked down then). */
  local: boolean;
  /** Whether the caller had received chunks from it. */
  started: boolean;
  /** How many chunks the call has delivered so far (where a resumed stream picks up). */
  delivered: number;
  /** The attempt number, from 1. */
  attempt: number;
}

/** What follows a failed attempt: try again, or fail with `error`. */
export type AttemptDecision = { next: "retry" } | { next: "fail"; error: unknown };

/** Who the attempts report to. */
export interface AttemptHooks {
  readonly log: Logger;
  /** An instance elsewhere did not take the request: skip it for a while. */
  markDown(instance: string): void;
}

/**
 * The attempts of one call. A stream whose `resumable` instance is lost resumes elsewhere
 * (bounded by `migrationLimit`); a `busy` instance is passed over (a queue call tries again up to
 * `maxAttempts`); a request nobody took is tried on another instance up to `maxAttempts`, then
 * fails `no_instances`. Anything else, or a failure after chunks arrived, fails the call.
 *
 * @example
 * ```ts ignore
 * const attempts = new CallAttempts(target, requestId, limits, { direct: false, viaQueue: false }, hooks);
 * const decision = attempts.afterFailure(error, { target, local, started, delivered, attempt });
 * if (decision.next === "fail") throw decision.error;
 * ```
 */
export class CallAttempts {
  /** Instances this call has tried. */
  readonly tried: Set<string> = new Set();
  #busy = 0;
  #undelivered = 0;
  #migrations = 0;
  #target: string;
  #requestId: string;
  #limits: AttemptLimits;
  #direct: boolean;
  #viaQueue: boolean;
  #hooks: AttemptHooks;

  constructor(
    target: string,
    requestId: string,
    limits: AttemptLimits,
    route: { direct: boolean; viaQueue: boolean },
    hooks: AttemptHooks,
  ) {
    this.#target = target;
    this.#requestId = requestId;
    this.#limits = limits;
    this.#direct = route.direct;
    this.#viaQueue = route.viaQueue;
    this.#hooks = hooks;
  }

  /** How many attempts an instance answered `busy`. */
  get busy(): number {
    return this.#busy;
  }

  /** Decides what follows a failed attempt, and remembers what it learnt. */
  afterFailure(error: unknown, outcome: AttemptOutcome): AttemptDecision {
    const { target } = outcome;
    if (
      error instanceof MeshError && error.code === "instance_lost" && target && !this.#direct &&
      target.meta?.resumable === true && this.#migrations < this.#limits.migrationLimit
    ) {
      this.#migrations++;
      this.tried.add(target.instance);
      this.#hooks.log.info("Instance lost mid-stream; resuming on another instance", {
        request_id: this.#requestId,
        instance: target.instance,
        resume_from: outcome.delivered,
        migration: this.#migrations,
      });
      return { next: "retry" };
    }
    if (outcome.started || this.#direct && !(error instanceof NotDeliveredError)) {
      return { next: "fail", error };
    }
    if (error instanceof MeshError && error.code === "busy") {
      if (target) this.tried.add(target.instance);
      this.#busy++;
      if (!this.#viaQueue || this.#busy < this.#limits.maxAttempts) return { next: "retry" };
      return { next: "fail", error };
    }
    if (!(error instanceof NotDeliveredError)) return { next: "fail", error };
    if (target) {
      this.tried.add(target.instance);
      if (!outcome.local) this.#hooks.markDown(target.instance);
    }
    this.#hooks.log.debug("No instance took the request; trying another", {
      request_id: this.#requestId,
      instance: target?.instance ?? "(queue)",
      reason: error.reason,
    });
    if (++this.#undelivered < this.#limits.maxAttempts && !this.#direct) return { next: "retry" };
    return {
      next: "fail",
      error: new MeshError(
        "no_instances",
        `Cannot route to "${this.#target}": no instance took the request after ${outcome.attempt} attempts`,
        { cause: error },
      ),
    };
  }
}
