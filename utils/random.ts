/**
 * Randomness, injected: routing policies, backoff jitter and ids draw from a {@linkcode Random},
 * so tests can make them repeatable.
 *
 * @module
 */

/** A source of numbers in [0, 1), like `Math.random`. */
export type Random = () => number;

/** The real source. */
export const systemRandom: Random = () => Math.random();

/**
 * A repeatable source (mulberry32) for tests.
 *
 * @example
 * ```ts
 * import { seededRandom } from "./random.ts";
 * const a = seededRandom(7), b = seededRandom(7);
 * console.assert(a() === b());
 * ```
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
