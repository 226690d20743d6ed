/**
 * `ServiceArgs`: the keys every component section may hold besides its own (the seeds'
 * `ServiceArgs.workers`), with their defaults: how many instances, how many requests each serves
 * at once, and how failed instances are restarted.
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
}, { max_inflight_requests: "max_inflight" });

/** The filled `ServiceArgs` of a component. */
export type ServiceArgs = ConfigValues<typeof SERVICE_ARGS>;

/** `ServiceArgs` with every key at its default. */
export function defaultServiceArgs(): ServiceArgs {
  const args: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(SERVICE_ARGS.fields)) args[key] = field.default;
  return args as ServiceArgs;
}
