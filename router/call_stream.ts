/**
 * One call as the caller iterates it: each attempt's chunks, passed straight through, and on a
 * failure the decision of `attempts.ts` (retry on another instance, migrate a resumable stream,
 * or fail). A hand-written iterator rather than an async generator: a generator around the
 * attempt would add a resume and a promise per chunk at every hop, and most calls are one
 * attempt of one chunk.
 *
 * @module
 */

import { MeshError } from "../protocol/errors.ts";
import type { LocalCall } from "../protocol/call_options.ts";
import type { InstanceInfo } from "../protocol/instance_info.ts";
import type { CallAttempts } from "./attempts.ts";

/** What a call needs from its client. */
export interface CallHost {
  now(): number;
  /** The instance for the next attempt at once, or `undefined` to wait in `choose`. */
  pickAtOnce(attempts: CallAttempts | undefined): InstanceInfo | undefined;
  /** Waits for an instance for the next attempt (or fails `no_instances`, `busy`...). */
  choose(attempts: CallAttempts | undefined): Promise<InstanceInfo>;
  /** Starts one attempt at `target` (undefined: the queue group); throws when it cannot. */
  start(target: InstanceInfo | undefined, call: LocalCall): {
    chunks: AsyncIterable<unknown>;
    local: boolean;
  };
  /** Counts a call in flight to an instance (+1), or its end (-1). */
  count(instance: string, delta: 1 | -1): void;
  /** The bookkeeping of a call's failed attempts, made on the first failure. */
  newAttempts(): CallAttempts;
}

/** Where the call goes and until when. */
export interface CallPlan {
  requestId: string;
  deadline: number;
  signal: AbortSignal | undefined;
  /** Through the queue group: no instance is named. */
  viaQueue: boolean;
}

const _DONE: IteratorResult<unknown> = { done: true, value: undefined };

/** The chunks of one call, over as many attempts as it takes. */
export class CallStream implements AsyncIterableIterator<unknown> {
  #host: CallHost;
  #plan: CallPlan;
  #attempt = 0;
  #attempts: CallAttempts | undefined;
  #delivered = 0;
  #inner: AsyncIterator<unknown> | undefined;
  #target: InstanceInfo | undefined;
  #counted: string | undefined;
  #local = false;
  #started = false;
  #done = false;

  constructor(host: CallHost, plan: CallPlan) {
    this.#host = host;
    this.#plan = plan;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<unknown> {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.#done) return Promise.resolve(_DONE);
    if (this.#inner) return this.#inner.next().then(this.#onStep, this.#onError);
    let picked: InstanceInfo | undefined;
    try {
      const { signal, deadline } = this.#plan;
      if (signal?.aborted) throw new MeshError("cancelled", "The request was cancelled");
      if (deadline <= this.#host.now()) {
        throw new MeshError("deadline_exceeded", "The request deadline passed");
      }
      picked = this.#host.pickAtOnce(this.#attempts);
    } catch (error) {
      this.#done = true;
      return Promise.reject(error);
    }
    if (picked) return this.#begin(picked);
    return this.#host.choose(this.#attempts).then(
      (chosen) => this.#begin(chosen),
      (error) => {
        this.#done = true;
        throw error;
      },
    );
  }

  return(value?: unknown): Promise<IteratorResult<unknown>> {
    const inner = this.#inner;
    const result: IteratorResult<unknown> = { done: true, value };
    if (this.#done) return Promise.resolve(result);
    this.#done = true;
    this.#inner = undefined;
    this.#endAttempt();
    if (!inner?.return) return Promise.resolve(result);
    return Promise.resolve(inner.return()).then(() => result, () => result);
  }

  /** Starts an attempt at `picked` and takes its first step. */
  #begin(picked: InstanceInfo): Promise<IteratorResult<unknown>> {
    this.#attempt++;
    const target = this.#plan.viaQueue ? undefined : picked;
    this.#target = target;
    this.#started = false;
    this.#local = false;
    if (target) {
      this.#host.count(target.instance, +1);
      this.#counted = target.instance;
    }
    try {
      const { chunks, local } = this.#host.start(target, {
        requestId: this.#plan.requestId,
        deadline: this.#plan.deadline,
        attempt: this.#attempt,
        signal: this.#plan.signal,
        resumeFrom: this.#delivered,
      });
      this.#local = local;
      this.#inner = chunks[Symbol.asyncIterator]();
    } catch (error) {
      return this.#onError(error);
    }
    return this.#inner.next().then(this.#onStep, this.#onError);
  }

  #onStep = (step: IteratorResult<unknown>): IteratorResult<unknown> => {
    if (step.done) {
      this.#done = true;
      this.#inner = undefined;
      this.#endAttempt();
      return _DONE;
    }
    this.#started = true;
    this.#delivered++;
    return step;
  };

  /** A failed attempt: the next one, or the call's error. */
  #onError = (error: unknown): Promise<IteratorResult<unknown>> => {
    this.#inner = undefined;
    this.#endAttempt();
    if (this.#done) return Promise.reject(error);
    this.#attempts ??= this.#host.newAttempts();
    const decision = this.#attempts.afterFailure(error, {
      target: this.#target,
      local: this.#local,
      started: this.#started,
      delivered: this.#delivered,
      attempt: this.#attempt,
    });
    if (decision.next === "fail") {
      this.#done = true;
      return Promise.reject(decision.error);
    }
    return this.next();
  };

  #endAttempt(): void {
    if (this.#counted === undefined) return;
    this.#host.count(this.#counted, -1);
    this.#counted = undefined;
  }
}
