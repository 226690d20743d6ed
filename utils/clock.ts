/**
 * Time, injected: leases, backoff, deadlines and restart windows read the clock through this
 * interface, so tests drive them with {@linkcode ManualClock} instead of sleeping.
 *
 * @module
 */

/** A timer handle returned by {@linkcode Clock.setTimeout}. */
export type TimerId = number;

/** Wall-clock time and timers. */
export interface Clock {
  /** Unix milliseconds. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId): void;
  /**
   * Lets the process exit while this timer is pending (for timers that only guard other work,
   * which keeps the process alive by itself). Optional: a test clock need not have it.
   */
  unref?(id: TimerId): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as number,
  clearTimeout: (id) => clearTimeout(id),
  unref: (id) => Deno.unrefTimer(id),
};

/**
 * A clock that moves only when told to, for tests.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * const clock = new ManualClock(1_000);
 * let fired = false;
 * clock.setTimeout(() => (fired = true), 500);
 * clock.advance(500);
 * console.assert(fired);
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #next = 1;
  #timers = new Map<TimerId, { at: number; fn: () => void }>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(id: TimerId): void {
    this.#timers.delete(id);
  }

  /** Moves time forward, firing due timers in order (timers they set fire too when due). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let dueId: TimerId | undefined;
      let dueAt = Infinity;
      for (const [id, timer] of this.#timers) {
        if (timer.at <= end && timer.at < dueAt) [dueId, dueAt] = [id, timer.at];
      }
      if (dueId === undefined) break;
      const timer = this.#timers.get(dueId)!;
      this.#timers.delete(dueId);
      this.#now = Math.max(this.#now, timer.at);
      timer.fn();
    }
    this.#now = end;
  }

  /** How many timers are pending. */
  get pending(): number {
    return this.#timers.size;
  }
}
