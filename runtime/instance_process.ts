/**
 * One instance as a supervised child process of `serve` (`ServiceArgs.processes: true`, cluster
 * mode only): real parallelism on Deno, and a crash (even `kill -9`) takes down one instance,
 * which the supervisor starts again with backoff.
 *
 * The child is `meshwork worker --component C --instances 1` with the parent's config, graph,
 * overrides and environment (plus `MESH_PARENT_PID` and the extra `env`), and `--status-port` when
 * it has one. With a `logFile`, its stdout and stderr are appended to that file (through
 * `/bin/sh`, which `exec`s the child, so the PID is the child's own and no write permission is
 * needed here); otherwise they are the parent's. It is ready when the registry lists an instance
 * with its PID. How to run `meshwork` is handed in (`bin/` knows the binary and its
 * permissions), so this layer never imports the command line.
 *
 * @module
 */

import type { Logger } from "../utils/logger.ts";
import type { ChildExit, ChildHandle, ChildSpec, RestartType } from "../actors/supervisor.ts";
import type { InstanceView } from "../router/instance_view.ts";
import type { EnvName } from "../configs/environment.ts";

/** How to start the children of one component. */
export interface InstanceProcessOptions {
  component: string;
  /** The worker's name, the supervisor's child id: `encoder.0`. */
  name: string;
  /** The program and leading arguments that run `meshwork` (`deno run ... cli.ts`, or a binary). */
  command: readonly string[];
  /** `--config`, `--graph`, `--log-level` and the overrides, as given to `serve`. */
  args: readonly string[];
  /** The view of the component's instances, to see the child register. */
  view: InstanceView;
  restart: RestartType;
  log: Logger;
  /** Its status port (`--status-port`): `/live`, `/ready`, `/health`, `/metrics`. */
  statusPort?: number;
  /** Where its stdout and stderr go (appended; the directory is made). Default: the parent's. */
  logFile?: string;
  /** Extra environment (the planes `serve` started: `NATS_SERVER`, `ETCD_ENDPOINTS`). */
  env?: Readonly<Record<string, string>>;
  /** How long a child may take to register. Default 30 000 ms. */
  startTimeoutMs?: number;
  /** Time a child gets to drain on stop before SIGKILL. Default 10 000 ms. */
  graceMs?: number;
}

const PARENT_PID: EnvName = "MESH_PARENT_PID";

/** A child spec that runs one instance of a component as a process, named `options.name`. */
export function instanceProcess(options: InstanceProcessOptions): ChildSpec {
  const id = options.name;
  return {
    id,
    restart: options.restart,
    async start(): Promise<ChildHandle> {
      const [program, ...args] = [
        ...options.command,
        "worker",
        "--component",
        options.component,
        "--instances",
        "1",
        ...options.args,
        ...(options.statusPort !== undefined ? ["--status-port", String(options.statusPort)] : []),
        // The child runs its one instance itself (a later override wins).
        `--${options.component}.ServiceArgs.processes=false`,
      ];
      const child = _spawn(program!, args, {
        ...options.env,
        [PARENT_PID]: String(Deno.pid),
      }, options.logFile);
      const log = options.log.child({ child: id, pid: child.pid });
      const status = child.status;
      const exited = status.then((s): ChildExit =>
        s.success ? { normal: true } : {
          normal: false,
          error: new Error(
            `Process ${child.pid} exited with ${
              s.signal ? `signal ${s.signal}` : `code ${s.code}`
            }`,
          ),
        }
      );
      const kill = (signal: Deno.Signal) => {
        try {
          child.kill(signal);
        } catch {
          // already gone
        }
      };
      try {
        await _registered(options.view, child.pid, status, options.startTimeoutMs ?? 30_000);
      } catch (error) {
        kill("SIGKILL");
        await status;
        throw error;
      }
      log.info("Instance process ready");
      return {
        exited,
        async stop() {
          kill("SIGTERM");
          const late = setTimeout(() => kill("SIGKILL"), (options.graceMs ?? 10_000) + 5000);
          await status;
          clearTimeout(late);
        },
      };
    },
  };
}

/** Spawns the child, its output to `logFile` (appended, directory made) or to the parent's. */
function _spawn(
  program: string,
  args: string[],
  env: Record<string, string>,
  logFile: string | undefined,
): Deno.ChildProcess {
  if (logFile === undefined) {
    return new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
      env,
    }).spawn();
  }
  // `exec` keeps the PID: the one we supervise and signal is the child's own, never a shell's.
  const script = 'f=$1; shift; mkdir -p "$(dirname "$f")" && exec "$@" >>"$f" 2>&1';
  return new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", logFile, program, ...args],
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
    env,
  }).spawn();
}

/** Resolves once the view lists an instance of process `pid`; rejects if it exits first. */
async function _registered(
  view: InstanceView,
  pid: number,
  status: Promise<Deno.CommandStatus>,
  timeoutMs: number,
): Promise<void> {
  const giveUp = AbortSignal.timeout(timeoutMs);
  let exited: Deno.CommandStatus | undefined;
  status.then((s) => (exited = s));
  const stop = new AbortController();
  const onGiveUp = () => stop.abort();
  giveUp.addEventListener("abort", onGiveUp, { once: true });
  status.then(() => stop.abort());
  try {
    while (!view.instances.some((info) => info.pid === pid)) {
      if (exited) {
        throw new Error(
          `Process ${pid} exited (code ${exited.code}) before registering its instance`,
        );
      }
      if (giveUp.aborted) throw new Error(`Process ${pid} did not register within ${timeoutMs} ms`);
      await view.changed(stop.signal);
    }
  } finally {
    giveUp.removeEventListener("abort", onGiveUp);
  }
}
