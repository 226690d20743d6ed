/**
 * A delay that ends early, with the signal's reason, when the signal aborts. Handlers use it for
 * simulated work so that a cancelled request stops at once and never blocks the event loop.
 *
 * @module
 */

/** Resolves after `ms`, or rejects with `signal.reason` as soon as `signal` aborts. */
export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
