/**
 * Down marks: instances that did not take a request, skipped until their next registry update or
 * until the mark expires, whichever comes first (an outage of the bus sends no registry update).
 *
 * @module
 */

import type { Clock } from "../utils/clock.ts";

/**
 * The instances of one client that are marked down, each until a time.
 *
 * @example
 * ```ts
 * import { DownMarks } from "./down_marks.ts";
 * import { ManualClock } from "../utils/clock.ts";
 * const clock = new ManualClock(0);
 * const marks = new DownMarks(clock);
 * marks.mark("ab12", 2000);
 * console.assert(marks.isDown("ab12"));
 * clock.advance(2000);
 * console.assert(!marks.isDown("ab12"));
 * ```
 */
export class DownMarks {
  #clock: Clock;
  #until = new Map<string, number>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Whether no instance is marked (expired marks may still count until checked). */
  get empty(): boolean {
    return this.#until.size === 0;
  }

  /** Marks an instance down for `ms` from now (a longer mark it has already stays). */
  mark(instance: string, ms: number): void {
    const until = this.#clock.now() + ms;
    if (until > (this.#until.get(instance) ?? -Infinity)) this.#until.set(instance, until);
  }

  /** Clears an instance's mark (the registry said something new about it). */
  clear(instance: string): void {
    this.#until.delete(instance);
  }

  /** Whether an instance is marked down now; an expired mark is dropped. */
  isDown(instance: string): boolean {
    const until = this.#until.get(instance);
    if (until === undefined) return false;
    if (until > this.#clock.now()) return true;
    this.#until.delete(instance);
    return false;
  }

  /** The one of these marked instances whose mark expires first (`undefined` when none is). */
  firstMarked(instances: Iterable<string>): string | undefined {
    let first: string | undefined;
    let firstUntil = Infinity;
    for (const instance of instances) {
      const until = this.#until.get(instance);
      if (until !== undefined && until < firstUntil) [first, firstUntil] = [instance, until];
    }
    return first;
  }

  /** When the first of these instances' marks expires (`Infinity` when none is marked). */
  firstExpiry(instances: Iterable<string>): number {
    let first = Infinity;
    for (const instance of instances) {
      first = Math.min(first, this.#until.get(instance) ?? Infinity);
    }
    return first;
  }
}
