/**
 * How a pod stops without losing a request, and the numbers that make the pieces agree.
 *
 * 1. Kubernetes marks the pod terminating: the Service drops it from its endpoints, and at the
 *    same time runs the preStop hook, a {@linkcode PRE_STOP_S}-second sleep, so that every
 *    kube-proxy and client has stopped sending new requests before the process hears anything.
 * 2. SIGTERM: the mesh deregisters its instances (callers stop routing to them), `/ready` turns
 *    503, and in-flight requests get {@linkcode GRACE_MS} (`--grace-ms`) to finish.
 * 3. {@linkcode terminationGraceSeconds} leaves {@linkcode MARGIN_S} more for closing the
 *    connections before the kubelet's SIGKILL.
 *
 * @module
 */

/** Seconds the preStop hook waits before SIGTERM. */
export const PRE_STOP_S = 5;

/** The mesh's drain on SIGTERM (`--grace-ms`, serve's default). */
export const GRACE_MS = 10_000;

/** Seconds after the drain for closing connections and exiting. */
export const MARGIN_S = 5;

/** `terminationGracePeriodSeconds`: the preStop sleep, the drain and the margin. */
export function terminationGraceSeconds(graceMs: number = GRACE_MS): number {
  return PRE_STOP_S + Math.ceil(graceMs / 1000) + MARGIN_S;
}
