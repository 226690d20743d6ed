/**
 * A look at a promise that does not wait for it: lets a handler that answers at once be served as
 * a plain value, and one that does not be served as a stream.
 *
 * @module
 */

/** How a promise settled. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Awaits `promise` for a few microtask turns only: how it settled, or `undefined` when it has not
 * settled by then (it goes on; the caller awaits it later).
 *
 * @example
 * ```ts
 * import { settledSoon } from "./settled_soon.ts";
 * const outcome = await settledSoon(Promise.resolve(42));
 * console.assert(outcome?.ok === true && outcome.value === 42);
 * ```
 */
export async function settledSoon<T>(promise: Promise<T>): Promise<Settled<T> | undefined> {
  let outcome: Settled<T> | undefined;
  promise.then(
    (value) => (outcome = { ok: true, value }),
    (error) => (outcome = { ok: false, error }),
  );
  for (let turn = 0; turn < 16 && !outcome; turn++) await null;
  return outcome;
}
