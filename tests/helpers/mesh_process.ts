/**
 * Runs mesh processes for end-to-end tests: `deno run` with the same permission flags as the
 * `deno task` entries and the compiled binaries (`serve` adds `--allow-run`), output captured,
 * stopped by PID.
 *
 * @module
 */

import { MESH_PERMISSIONS, SERVE_PERMISSIONS } from "../../bin/permissions.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A running mesh process. */
export interface MeshProcess extends AsyncDisposable {
  readonly pid: number;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves when the output matches `pattern`; fails after `timeoutMs` with the output. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends a signal by PID. */
  kill(signal?: Deno.Signal): void;
  /** The exit status. */
  readonly status: Promise<Deno.CommandStatus>;
}

/** Options for {@linkcode spawnMesh}. */
export interface SpawnOptions {
  env?: Record<string, string>;
  /** Run the command through this prefix (e.g. `ip netns exec node2 unshare --uts ...`). */
  wrap?: (command: string[]) => string[];
  /** The program; default the Deno running the tests. */
  program?: string[];
}

/** Starts `cli.ts <args>` (or `options.program <args>`). */
export function spawnMesh(args: string[], options: SpawnOptions = {}): MeshProcess {
  let argv = [
    ...(options.program ?? [
      Deno.execPath(),
      "run",
      ...(args[0] === "serve" ? SERVE_PERMISSIONS : MESH_PERMISSIONS),
      `${ROOT}cli.ts`,
    ]),
    ...args,
  ];
  if (options.wrap) argv = options.wrap(argv);
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    env: { MESH_LOG_LEVEL: "info", NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      for (const wake of waiters) wake();
    }
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = pumped.then(() => child.status);
  let exited = false;
  status.then(() => {
    exited = true;
    for (const wake of waiters) wake();
  });
  return {
    pid: child.pid,
    output: () => text,
    status,
    waitForOutput(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(text)) return done(resolve);
          if (exited) {
            return done(() => reject(new Error(`Process exited before ${pattern}:\n${text}`)));
          }
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`Timed out waiting for ${pattern}:\n${text}`))),
          timeoutMs,
        );
        const done = (fn: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        waiters.add(check);
        check();
      });
    },
    kill(signal: Deno.Signal = "SIGTERM") {
      if (!exited) {
        try {
          Deno.kill(child.pid, signal);
        } catch {
          // already gone
        }
      }
    },
    async [Symbol.asyncDispose]() {
      if (!exited) {
        this.kill("SIGTERM");
        const timer = setTimeout(() => this.kill("SIGKILL"), 5000);
        await status;
        clearTimeout(timer);
      }
      await status;
    },
  };
}

/** Whether a process with this id exists (a `SIGCONT` changes nothing about a running one). */
export function pidAlive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}
