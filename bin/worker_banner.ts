/**
 * What `meshwork serve` prints about each worker before it starts it (seed 002's "Starting
 * Worker: Config: ..."), and the line once all are up. Secrets (`api_keys`) are never printed:
 * only how many there are.
 *
 * ```
 * Starting worker encoder.0 (child process, metrics port 50000, log /tmp/meshwork-logs/1234/encoder.0.log)
 *   config:      {"input_copies":1,"delay":0}
 *   ServiceArgs: {"workers":1,"max_inflight":16,"restart":"permanent",...,"processes":true}
 * ```
 *
 * @module
 */

import type { LocalPlanes } from "../runtime/local_planes.ts";
import type { WorkerDescription } from "../runtime/worker_description.ts";

/** The line `serve` prints once every worker has started. */
export const WORKERS_STARTED = "Workers started ... press Ctrl-C to Exit";

/** A worker's block: its name, where it runs, its effective config and ServiceArgs. */
export function formatWorker(worker: WorkerDescription): string {
  const where = worker.mode === "process"
    ? [
      "child process",
      ...(worker.metricsPort !== undefined ? [`metrics port ${worker.metricsPort}`] : []),
      ...(worker.logFile !== undefined ? [`log ${worker.logFile}`] : []),
    ].join(", ")
    : "in this process";
  return [
    `Starting worker ${worker.name} (${where})`,
    `  config:      ${JSON.stringify(_redacted(worker.config))}`,
    `  ServiceArgs: ${JSON.stringify(worker.serviceArgs)}`,
  ].join("\n");
}

/** The config with `api_keys` replaced by their count. */
function _redacted(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const keys = config.api_keys;
  if (!Array.isArray(keys)) return { ...config };
  return { ...config, api_keys: `(${keys.length} key${keys.length === 1 ? "" : "s"})` };
}

/**
 * The line about the servers `--initialize-request-plane` started:
 * `Request plane started: nats-server pid 123 at nats://127.0.0.1:4222, etcd pid 124 at http://...`.
 */
export function formatLocalPlanes(planes: LocalPlanes): string {
  const parts = [
    ...(planes.natsUrl
      ? [`nats-server pid ${planes.pids["nats-server"]} at ${planes.natsUrl}`]
      : []),
    ...(planes.etcdEndpoint ? [`etcd pid ${planes.pids.etcd} at ${planes.etcdEndpoint}`] : []),
  ];
  return `Request plane started: ${parts.join(", ")} (stopped on exit)`;
}
