/**
 * The table of payloads one data-plane holder keeps: each under a fresh key, with a pull budget
 * and a TTL timer on the injected clock. Both data-plane implementations hold through it, so
 * "freed when pulled or expired" means the same thing in both.
 *
 * @module
 */

import { DEFAULT_DATA_TTL_MS, newDataKey } from "./data_plane.ts";
import { type Clock, systemClock, type TimerId } from "../utils/clock.ts";

/** Options for {@linkcode DataHolder}. */
export interface DataHolderOptions {
  /** Reads time for TTLs. Default: {@linkcode systemClock}. */
  clock?: Clock;
  /** TTL when a put names none. Default 60 s. */
  ttlMs?: number;
  /** Called once per key when it is freed (pulled out, expired, released or cleared). */
  onFree?: (key: string) => void;
}

interface _Entry {
  bytes: Uint8Array;
  pullsLeft: number;
  timer: TimerId;
}

/**
 * Payloads by key, each freed after its last pull or its TTL.
 *
 * @example
 * ```ts
 * import { DataHolder } from "./data_holder.ts";
 * import { ManualClock } from "../utils/clock.ts";
 * const clock = new ManualClock();
 * const holder = new DataHolder({ clock, ttlMs: 1000 });
 * const key = holder.hold(new Uint8Array([1, 2, 3]), 1000, 1);
 * console.assert(holder.take(key)?.length === 3);
 * console.assert(holder.take(key) === undefined);
 * ```
 */
export class DataHolder {
  readonly #clock: Clock;
  readonly #onFree?: (key: string) => void;
  readonly #entries = new Map<string, _Entry>();
  #bytes = 0;
  /** The TTL used when a put names none. */
  readonly ttlMs: number;

  constructor(options: DataHolderOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.ttlMs = options.ttlMs ?? DEFAULT_DATA_TTL_MS;
    this.#onFree = options.onFree;
  }

  /** Keeps `bytes` for `pulls` pulls (or `Infinity`) or `ttlMs`, whichever ends first; returns the key. */
  hold(bytes: Uint8Array, ttlMs: number, pulls: number): string {
    const key = newDataKey();
    const timer = this.#clock.setTimeout(() => this.#free(key), ttlMs);
    this.#entries.set(key, { bytes, pullsLeft: pulls, timer });
    this.#bytes += bytes.byteLength;
    return key;
  }

  /**
   * Whether `key` is held, without using a pull.
   */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** The size of a held payload, or undefined. */
  sizeOf(key: string): number | undefined {
    return this.#entries.get(key)?.bytes.byteLength;
  }

  /**
   * Uses one pull of `key`: returns its bytes (freeing them after the last pull), or undefined
   * when the key is not held. The bytes are the ones put, not a copy.
   */
  take(key: string): Uint8Array | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    entry.pullsLeft -= 1;
    if (entry.pullsLeft <= 0) this.#free(key);
    return entry.bytes;
  }

  /** Whether a pull of `key` now would leave it held (so a caller may want to copy). */
  keepsAfterTake(key: string): boolean {
    return (this.#entries.get(key)?.pullsLeft ?? 0) > 1;
  }

  /** Frees `key` now; false when it was not held. */
  release(key: string): boolean {
    return this.#free(key);
  }

  /** Frees everything. */
  clear(): void {
    for (const key of [...this.#entries.keys()]) this.#free(key);
  }

  /** Payloads held now. */
  get count(): number {
    return this.#entries.size;
  }

  /** Their total size in bytes. */
  get bytes(): number {
    return this.#bytes;
  }

  #free(key: string): boolean {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#entries.delete(key);
    this.#clock.clearTimeout(entry.timer);
    this.#bytes -= entry.bytes.byteLength;
    this.#onFree?.(key);
    return true;
  }
}
