/**
 * Restart intensity (OTP's `intensity` within `period`): at most `intensity` restarts in any
 * `periodMs`; one more means the supervisor gives up and escalates.
 *
 * @module
 */

import type { Clock } from "../utils/clock.ts";

/** Counts restarts in a sliding window. */
export class RestartWindow {
  readonly intensity: number;
  readonly periodMs: number;
  #clock: Clock;
  #times: number[] = [];

  constructor(intensity: number, periodMs: number, clock: Clock) {
    if (!Number.isInteger(intensity) || intensity < 0) {
      throw new RangeError(`Restart intensity must be a whole number >= 0, got ${intensity}`);
    }
    if (!(periodMs > 0)) throw new RangeError(`Restart period must be > 0 ms, got ${periodMs}`);
    this.intensity = intensity;
    this.periodMs = periodMs;
    this.#clock = clock;
  }

  /** Records a restart; `false` when it is one too many for the window. */
  record(): boolean {
    const now = this.#clock.now();
    this.#times = this.#times.filter((t) => now - t < this.periodMs);
    this.#times.push(now);
    return this.#times.length <= this.intensity;
  }

  /** Restarts in the current window. */
  get count(): number {
    const now = this.#clock.now();
    return this.#times.filter((t) => now - t < this.periodMs).length;
  }
}
