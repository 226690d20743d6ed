/**
 * Waiting in tests, one way: poll a condition until it holds ({@linkcode eventually}), bound a
 * promise ({@linkcode within}), or let microtasks run ({@linkcode untilMicrotasks}). Each fails
 * the test with what it was waiting for instead of hanging.
 *
 * @module
 */

/** Options of {@linkcode eventually}. */
export interface EventuallyOptions {
  /** Give up after this long. Default 15 000 ms. */
  timeoutMs?: number;
  /** Pause between checks. Default 20 ms. */
  intervalMs?: number;
}

/** Polls `check` until it returns true; throws `Timed out after N ms: <what>` otherwise. */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  options: EventuallyOptions = {},
): Promise<void> {
  const { timeoutMs = 15_000, intervalMs = 20 } = options;
  const giveUpAt = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() >= giveUpAt) throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves like `promise`, or rejects (failing the test) when it has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lets queued microtasks run until `done()` holds (bounded; no timers involved). */
export async function untilMicrotasks(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await null;
  if (!done()) throw new Error(`Never happened: ${what}`);
}
