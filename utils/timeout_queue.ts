/**
 * Many time-outs of one length for the price of one timer. A per-request timer costs a few
 * microseconds in Deno to set and clear; a queue of time-outs that all last `ms` is in due order
 * by construction (each is added `ms` after now, and now only grows), so one clock timer, armed
 * for the head, serves them all.
 *
 * @module
 */

import type { Clock, TimerId } from "./clock.ts";

/** A time-out in a {@linkcode TimeoutQueue}; `cancel()` it when the work finished in time. */
export interface QueuedTimeout {
  cancel(): void;
}

interface _Entry extends QueuedTimeout {
  due: number;
  fn: (() => void) | undefined;
}

/**
 * Calls each added function `ms` after it was added, unless cancelled first. Functions fire in
 * the order they were added. Cancelled entries are dropped when they reach the head, or all at
 * once when they outnumber the live ones. The timer stays armed when every time-out was
 * cancelled: it fires once more, finds nothing, and stops.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * import { TimeoutQueue } from "./timeout_queue.ts";
 * const clock = new ManualClock(0);
 * const queue = new TimeoutQueue(clock, 1000);
 * let fired = 0;
 * queue.add(() => fired++);
 * queue.add(() => fired++).cancel();
 * clock.advance(1000);
 * console.assert(fired === 1);
 * ```
 */
export class TimeoutQueue {
  readonly ms: number;
  #clock: Clock;
  #entries: _Entry[] = [];
  #head = 0;
  #cancelled = 0;
  #timer: TimerId | undefined;

  constructor(clock: Clock, ms: number) {
    this.#clock = clock;
    this.ms = ms;
  }

  /** How many time-outs are waiting (cancelled ones not counted). */
  get size(): number {
    return this.#entries.length - this.#head - this.#cancelled;
  }

  /** Calls `fn` after `ms`, unless the returned time-out is cancelled first. */
  add(fn: () => void): QueuedTimeout {
    const entry: _Entry = {
      due: this.#clock.now() + this.ms,
      fn,
      cancel: () => {
        if (entry.fn === undefined) return;
        entry.fn = undefined;
        this.#onCancel();
      },
    };
    this.#entries.push(entry);
    if (this.#timer === undefined) this.#arm(entry.due);
    return entry;
  }

  /** Cancels every waiting time-out and the timer. */
  clear(): void {
    for (let i = this.#head; i < this.#entries.length; i++) this.#entries[i]!.fn = undefined;
    this.#entries = [];
    this.#head = 0;
    this.#cancelled = 0;
    this.#disarm();
  }

  #onCancel(): void {
    this.#cancelled++;
    const waiting = this.#entries.length - this.#head;
    if (this.#cancelled === waiting) {
      // All cancelled: drop them, but keep the timer (clearing and setting a timer per
      // time-out is what this queue saves); it fires once, finds nothing, and is not re-armed.
      this.#entries = [];
      this.#head = 0;
      this.#cancelled = 0;
    } else if (this.#cancelled > 64 && this.#cancelled * 2 > waiting) {
      this.#entries = this.#entries.slice(this.#head).filter((e) => e.fn !== undefined);
      this.#head = 0;
      this.#cancelled = 0;
    }
  }

  #arm(due: number): void {
    this.#timer = this.#clock.setTimeout(() => this.#fire(), Math.max(0, due - this.#clock.now()));
    // The work a time-out guards keeps the process alive by itself; the timer must not.
    this.#clock.unref?.(this.#timer);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fire(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    // A function may cancel other time-outs (and so compact the list): read it afresh each turn.
    while (this.#head < this.#entries.length) {
      const entry = this.#entries[this.#head]!;
      if (entry.fn !== undefined && entry.due > now) break;
      this.#head++;
      const fn = entry.fn;
      if (fn === undefined) {
        this.#cancelled--;
        continue;
      }
      entry.fn = undefined;
      try {
        fn();
      } catch {
        // a time-out's function must not throw; one that does cannot stop the others
      }
    }
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
      this.#cancelled = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    const next = this.#entries[this.#head];
    if (next && this.#timer === undefined) this.#arm(next.due);
  }
}
