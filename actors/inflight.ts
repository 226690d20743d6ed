/**
 * The requests an actor is serving: one record per request, and one timer for all of them
 * that enforces deadlines and sends heartbeats on quiet streams.
 *
 * @module
 */

import type { Clock } from "../utils/clock.ts";
import { Ticker } from "../utils/ticker.ts";
import { MeshError } from "../protocol/errors.ts";

/** One request being served. */
export interface Inflight {
  controller: AbortController;
  deadline: number;
  /** Reply subject; undefined for local calls. */
  reply?: string;
  /** The sequence number of the next reply frame. */
  seq: number;
  /** When the last reply frame went out (Unix ms). */
  lastSentAt: number;
  /** The work-queue job the request came from, if it did (told "still working" while it runs). */
  job: InflightJob | undefined;
  /** The request id. */
  readonly requestId: string;
  /** Where the record is in its actor's list; -1 once untracked. */
  slot: number;
}

/** A work-queue job being served: the ticker calls `working()` every `everyMs`. */
export interface InflightJob {
  working(): void;
  /** How often to say so (a fraction of the queue's ack-wait). */
  everyMs: number;
  /** When it was last said (Unix ms). */
  lastAt: number;
}

/** Sends a heartbeat frame for a quiet request; throwing means it was not sent. */
export type HeartbeatSender = (request: Inflight, requestId: string) => void;

const _TICK_MS = 100;

/**
 * The requests being served by one actor, in a plain list (a record knows its slot, and leaves
 * by swapping in the last one), not a map by request id: a map that gains and loses an entry per
 * request rehashes its table (a new allocation, in V8's C++ runtime) every few dozen requests,
 * which was about a tenth of an in-process call's time. Finding a request by id (a cancel or a
 * probe, both rare) walks the list.
 *
 * While any is in flight a ticker (shared by the actors of a runtime, or its own) calls it every
 * 100 ms: it aborts requests whose deadline passed (`deadline_exceeded`), calls `heartbeat` for a
 * request over the bus that has sent nothing for `heartbeatMs`, and tells the work queue that a
 * job is still being worked on (`job.working()`, every `job.everyMs`).
 *
 * @example
 * ```ts ignore
 * const inflight = new InflightRequests(clock, 1000, (request) => sendHeartbeat(request));
 * const request = inflight.track("req-1", clock.now() + 5000, "_INBOX.abc");
 * try { ... } finally { inflight.untrack(request); }
 * ```
 */
export class InflightRequests {
  #clock: Clock;
  #heartbeatMs: number;
  #heartbeat: HeartbeatSender;
  #onHeartbeatError: (error: unknown, requestId: string) => void;
  #requests: Inflight[] = [];
  #ticker: Ticker;
  #drained: (() => void) | undefined;

  constructor(
    clock: Clock,
    heartbeatMs: number,
    heartbeat: HeartbeatSender,
    onHeartbeatError: (error: unknown, requestId: string) => void = () => {},
    ticker?: Ticker,
  ) {
    this.#ticker = ticker ?? new Ticker(clock, _TICK_MS);
    this.#clock = clock;
    this.#heartbeatMs = heartbeatMs;
    this.#heartbeat = heartbeat;
    this.#onHeartbeatError = onHeartbeatError;
  }

  /** How many requests are in flight. */
  get size(): number {
    return this.#requests.length;
  }

  /** A request in flight under this id. */
  get(requestId: string): Inflight | undefined {
    return this.#requests.find((request) => request.requestId === requestId);
  }

  /** Starts tracking a request. */
  track(requestId: string, deadline: number, reply?: string): Inflight {
    const request: Inflight = {
      controller: new AbortController(),
      deadline,
      reply,
      seq: 0,
      lastSentAt: this.#clock.now(),
      job: undefined,
      requestId,
      slot: this.#requests.length,
    };
    this.#requests.push(request);
    this.#ticker.join(this.#tick);
    return request;
  }

  /** Stops tracking a request; a second call does nothing. */
  untrack(request: Inflight): void {
    const slot = request.slot;
    if (slot < 0) return;
    request.slot = -1;
    const last = this.#requests.pop()!;
    if (last !== request) {
      this.#requests[slot] = last;
      last.slot = slot;
    }
    // The ticker is left at its next tick, not here: a busy actor empties and fills again many
    // times between two ticks, and leaving and joining each time costs more than one idle check.
    if (this.size === 0) this.#drained?.();
  }

  /** Resolves once no request is in flight. */
  drained(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => (this.#drained = resolve));
  }

  /** Aborts every request in flight with `reason`. */
  abortAll(reason: () => unknown): void {
    for (const request of [...this.#requests]) request.controller.abort(reason());
  }

  /** Stops the checks (the actor has stopped). */
  stopTimer(): void {
    this.#ticker.leave(this.#tick);
  }

  /**
   * Enforces deadlines and sends heartbeats on quiet streams: called by the ticker (one timer
   * for all the requests of all the actors that share it) while any request is in flight.
   */
  #tick = (): void => {
    if (this.size === 0) {
      this.#ticker.leave(this.#tick);
      return;
    }
    const now = this.#clock.now();
    for (const request of [...this.#requests]) {
      const requestId = request.requestId;
      if (now >= request.deadline && !request.controller.signal.aborted) {
        request.controller.abort(
          new MeshError("deadline_exceeded", "The request deadline passed"),
        );
        continue;
      }
      const job = request.job;
      if (job !== undefined && now - job.lastAt >= job.everyMs) {
        job.lastAt = now;
        try {
          job.working();
        } catch (error) {
          this.#onHeartbeatError(error, requestId);
        }
      }
      if (request.reply && now - request.lastSentAt >= this.#heartbeatMs) {
        request.lastSentAt = now;
        try {
          this.#heartbeat(request, requestId);
        } catch (error) {
          this.#onHeartbeatError(error, requestId);
        }
      }
    }
  };
}
