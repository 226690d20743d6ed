/**
 * Exponential backoff with jitter, for the pause before a restart.
 *
 * @module
 */

/** Backoff settings. */
export interface BackoffOptions {
  /** The first pause. Default 100 ms. */
  initialMs?: number;
  /** The longest pause. Default 5000 ms. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Spread, as a fraction of the pause: 0.2 means ±20 %. Default 0.2. */
  jitter?: number;
}

/**
 * The pause before attempt `attempt` (1 for the first retry): `initial × factor^(attempt-1)`,
 * capped at `max`, spread by ± `jitter`.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const { initialMs = 100, maxMs = 5000, factor = 2, jitter = 0.2 } = options;
  const base = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt - 1));
  return Math.max(0, Math.round(base * (1 + jitter * (2 * random() - 1))));
}
