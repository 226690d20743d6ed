/**
 * Waiting on a mesh process through its ops routes, the way a load balancer or an orchestrator
 * does: `GET /ready` answers 200 once the process serves ({@linkcode untilReady}), and
 * `GET /health` lists the instances the process sees ({@linkcode untilInstances}). Both work on
 * the gateway's port and on a worker's `--status-port`. Each probe is bounded by a short timeout;
 * a process that is not listening yet counts as not ready.
 *
 * @module
 */

import { eventually, type EventuallyOptions } from "./eventually.ts";

/** How long one probe may take before it counts as "no answer". */
const PROBE_TIMEOUT_MS = 1000;

/** The instances `GET <base>/health` lists (empty when the process does not answer). */
export async function healthInstances(base: string): Promise<{ component: string }[]> {
  try {
    const response = await fetch(`${base}/health`, {
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    if (!response.ok) {
      await response.body?.cancel();
      return [];
    }
    const body = await response.json() as { instances?: { component: string }[] };
    return body.instances ?? [];
  } catch {
    return [];
  }
}

/** Whether `GET <base>/ready` answers 200. */
export async function isReady(base: string): Promise<boolean> {
  try {
    const response = await fetch(`${base}/ready`, {
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/**
 * Polls `GET <base>/ready` until it answers 200 (every 50 ms, for at most 30 s unless told);
 * throws with what it waited for otherwise.
 */
export function untilReady(base: string, options: EventuallyOptions = {}): Promise<void> {
  return eventually(`${base}/ready answering 200`, () => isReady(base), {
    timeoutMs: 30_000,
    intervalMs: 50,
    ...options,
  });
}

/**
 * Polls `GET <base>/health` until it lists at least `count` instances of `component` (every
 * 50 ms, for at most 30 s unless told): the process's view of the mesh holds them, so it routes
 * to them.
 */
export function untilInstances(
  base: string,
  component: string,
  count: number,
  options: EventuallyOptions = {},
): Promise<void> {
  return eventually(
    `${base}/health listing ${count} ${component} instances`,
    async () =>
      (await healthInstances(base)).filter((info) => info.component === component).length >=
        count,
    { timeoutMs: 30_000, intervalMs: 50, ...options },
  );
}
