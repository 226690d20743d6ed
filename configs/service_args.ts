/**
 * `ServiceArgs`: the keys every component section may hold besides its own (the seeds'
 * `ServiceArgs.workers`), with their defaults: how many instances, how many requests each serves
 * at once, how failed instances are restarted, and whether they also serve from the durable work
 * queue.
 *
 * @example
 * ```ts
 * import { defaultServiceArgs } from "./service_args.ts";
 *
 * console.log(defaultServiceArgs().workers); // 1
 * ```
 *
 * @module
 */

import {
  boolean,
  type ConfigValues,
  defineSchema,
  integer,
  number,
  string,
} from "../actors/config_schema.ts";

/** The `ServiceArgs` keys every component section may hold. */
export const SERVICE_ARGS = defineSchema({
  workers: integer({ default: 1, min: 1, doc: "Instances that serve starts" }),
  max_inflight: integer({
    default: 0,
    min: 0,
    doc: "Requests one instance serves at once; more are answered busy (0: no limit)",
  }),
  restart: string({
    default: "permanent",
    enum: ["permanent", "transient", "temporary"],
    doc: "When a failed instance is restarted",
  }),
  max_restarts: integer({
    default: 5,
    min: 0,
    doc: "Restarts allowed within restart_period_s before the process gives up",
  }),
  restart_period_s: number({ default: 10, min: 0.001, doc: "The window of max_restarts" }),
  processes: boolean({
    default: false,
    doc: "Cluster mode: run each instance as a supervised child process of serve",
  }),
  queue: boolean({
    default: false,
    doc: "Also serve from the durable work queue <namespace>.<component>.<endpoint> " +
      "(callers use the work_queue policy); each instance pulls at most max_inflight jobs (0: 64)",
  }),
  max_deliver: integer({
    default: 3,
    min: 1,
    doc: "Work queue: deliveries of a request before its caller gets instance_lost",
  }),
  ack_wait_s: number({
    default: 10,
    min: 0.001,
    doc: "Work queue: silence after which a job is handed to another instance (worker lost)",
  }),
}, { max_inflight_requests: "max_inflight" });

/** The filled `ServiceArgs` of a component. */
export type ServiceArgs = ConfigValues<typeof SERVICE_ARGS>;

/** `ServiceArgs` with every key at its default. */
export function defaultServiceArgs(): ServiceArgs {
  const args: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(SERVICE_ARGS.fields)) args[key] = field.default;
  return args as ServiceArgs;
}
