/**
 * A component's instances as supervised child processes (`ServiceArgs.processes: true`, cluster
 * mode): one supervisor per component whose children are {@linkcode instanceProcess}es, with the
 * component's restart settings. A supervisor that gives up reports it as fatal.
 *
 * @module
 */

import type { AnyComponent } from "../actors/component.ts";
import { Supervisor } from "../actors/supervisor.ts";
import type { ServiceArgs } from "../configs/service_args.ts";
import { DEFAULT_ENDPOINT } from "../protocol/names.ts";
import type { Logger } from "../utils/logger.ts";
import { instanceProcess } from "./instance_process.ts";
import type { Runtime } from "./runtime.ts";

/** What {@linkcode serveProcesses} needs besides the component. */
export interface ProcessContext {
  runtime: Runtime;
  log: Logger;
  graceMs: number;
  /** The program and leading arguments that run `meshwork`. */
  command: readonly string[];
  /** `--config`, `--graph`, the overrides and `--log-level`, for every child. */
  args: readonly string[];
  /** Gets the error when the supervisor gives up. */
  onFatal(error: unknown): void;
  /** Extra environment for every child (the planes `serve` started). */
  env?: Readonly<Record<string, string>>;
  /** Instance `index`'s name, status port and log file. Default: `C.index`, none, none. */
  worker?(index: number): { name: string; statusPort?: number; logFile?: string };
}

/** Runs `instances` of component `c` as supervised child processes; resolves once all are up. */
export async function serveProcesses(
  c: AnyComponent,
  instances: number,
  args: ServiceArgs,
  context: ProcessContext,
): Promise<Supervisor> {
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") {
    throw new Error(
      `${c.name}.ServiceArgs.processes needs permission to start processes: run serve with ` +
        "--allow-run (deno task serve has it)",
    );
  }
  const endpoint = Object.keys(c.endpoints ?? {})[0] ?? DEFAULT_ENDPOINT;
  const view = context.runtime.view({
    namespace: context.runtime.namespace,
    component: c.name,
    endpoint,
  });
  await view.start();
  const supervisor = new Supervisor(
    `${c.name} processes`,
    Array.from({ length: instances }, (_, i) =>
      instanceProcess({
        ...(context.worker?.(i) ?? { name: `${c.name}.${i}` }),
        env: context.env,
        component: c.name,
        command: context.command,
        args: context.args,
        view,
        restart: args.restart,
        log: context.log,
        graceMs: context.graceMs,
      })),
    {
      intensity: args.max_restarts,
      periodMs: args.restart_period_s * 1000,
      logger: context.log,
    },
  );
  await supervisor.start();
  supervisor.exited.then((exit) => {
    if (!exit.normal) context.onFatal(exit.error);
  });
  return supervisor;
}
