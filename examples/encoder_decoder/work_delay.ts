/**
 * The seed's simulated work: wait `delay` seconds per element of the output (`delay × size`),
 * ending early when the request is cancelled.
 *
 * @module
 */

import { abortableDelay } from "../../utils/abortable_delay.ts";

/**
 * Waits `delaySeconds × elements` seconds (nothing when that is 0); rejects with the signal's
 * reason as soon as `signal` aborts.
 */
export async function workDelay(
  delaySeconds: number,
  elements: number,
  signal: AbortSignal,
): Promise<void> {
  const ms = delaySeconds * elements * 1000;
  if (ms > 0) await abortableDelay(ms, signal);
}
