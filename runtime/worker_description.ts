/**
 * What `serve` says about each worker it starts (seed 002's "Starting Worker: Config: ..."): its
 * name (`encoder.0`: the component and the instance's index), where it runs, its effective
 * config, and, for a child process, its status (metrics) port and log file.
 *
 * @module
 */

import type { ServiceArgs } from "../configs/service_args.ts";

/** One worker (one instance of a component), as `startMesh` is about to start it. */
export interface WorkerDescription {
  /** `<component>.<index>`, index from 0 per component: `encoder.0`, `decoder.1`. */
  name: string;
  component: string;
  index: number;
  /** `"process"`: a supervised child process; `"in_process"`: an actor in this process. */
  mode: "process" | "in_process";
  /** The component's config section, defaults filled (the gateway's keys for the HTTP front). */
  config: Readonly<Record<string, unknown>>;
  /** Its `ServiceArgs`, defaults filled. */
  serviceArgs: Readonly<ServiceArgs>;
  /** A child process's status port (`/live`, `/ready`, `/metrics`), when one was assigned. */
  metricsPort?: number;
  /** A child process's log file (its stdout and stderr), when a log directory was given. */
  logFile?: string;
}

/** The name of instance `index` of `component`: `encoder.0`. */
export function workerName(component: string, index: number): string {
  return `${component}.${index}`;
}
