/**
 * One periodic timer for many periodic checks: actors check their in-flight requests' deadlines
 * and heartbeats every 100 ms, and a process may host thousands of actors. Each check joins the
 * ticker while it has work and leaves when it has none; the timer runs only while some check has
 * joined, and is never set or cleared per request.
 *
 * @module
 */

import type { Clock, TimerId } from "./clock.ts";

/**
 * Calls every joined function each `ms` (on the injected clock).
 *
 * @example
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * import { Ticker } from "./ticker.ts";
 * const clock = new ManualClock(0);
 * const ticker = new Ticker(clock, 100);
 * let ticks = 0;
 * const check = () => ticks++;
 * ticker.join(check);
 * clock.advance(250);
 * ticker.leave(check);
 * clock.advance(1000);
 * console.assert(ticks === 2);
 * ```
 */
export class Ticker {
  readonly ms: number;
  #clock: Clock;
  #checks = new Set<() => void>();
  #timer: TimerId | undefined;

  constructor(clock: Clock, ms: number) {
    this.#clock = clock;
    this.ms = ms;
  }

  /** Calls `check` every tick until it leaves. Joining twice is joining once. */
  join(check: () => void): void {
    this.#checks.add(check);
    if (this.#timer === undefined) this.#arm();
  }

  /** Stops calling `check`. The timer stops at the next tick when nothing is joined. */
  leave(check: () => void): void {
    this.#checks.delete(check);
  }

  /** Stops everything (the runtime is shutting down). */
  stop(): void {
    this.#checks.clear();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#timer = this.#clock.setTimeout(() => this.#tick(), this.ms);
    // The work that joined keeps the process alive by itself; the ticker must not.
    this.#clock.unref?.(this.#timer);
  }

  #tick(): void {
    this.#timer = undefined;
    for (const check of [...this.#checks]) {
      try {
        check();
      } catch {
        // a check must not throw; one that does cannot stop the others
      }
    }
    if (this.#checks.size > 0) this.#arm();
  }
}
