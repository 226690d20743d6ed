/**
 * Starts a real `nats-server` for a test, on a free loopback port, and stops it by PID.
 *
 * The server is started with `-a 127.0.0.1 -p -1` (`-p -1` picks a free port; `-p 0` does not),
 * and the port is read from its `Listening for client connections on ...` line. `restart()`
 * starts it again on the same port, so that clients can reconnect (fault tests).
 *
 * @example
 * ```ts
 * import { startNatsServer } from "./nats_server.ts";
 * await using server = await startNatsServer();
 * console.log(server.url); // nats://127.0.0.1:PORT
 * ```
 *
 * @module
 */

import { requireBinary } from "./binaries.ts";

/** Options for {@linkcode startNatsServer}. */
export interface NatsServerOptions {
  /** Extra command-line arguments, e.g. `["--user", "a", "--pass", "b"]`. */
  args?: string[];
  /** How long to wait for the server to listen, in milliseconds. Default: 10 000. */
  startTimeoutMs?: number;
}

/** A running `nats-server` that a test owns. */
export interface NatsServer extends AsyncDisposable {
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  /** The client port (the same across restarts). */
  readonly port: number;
  /** The PID of the current process. */
  readonly pid: number;
  /** Everything the server wrote to stdout and stderr so far (all runs), for failing tests. */
  output(): string;
  /** Stops the server: SIGINT by PID, then SIGKILL after about 3 s. Idempotent. */
  stop(): Promise<void>;
  /** Stops the server (when running) and starts it again on the same port. */
  restart(): Promise<void>;
}

const LISTENING = /Listening for client connections on [^\s]*:(\d+)/;
const STOP_GRACE_MS = 3000;

/** One run of the server process. */
interface _Run {
  child: Deno.ChildProcess;
  /** Resolves when both output streams have been read to the end. */
  drained: Promise<void>;
  exited: boolean;
}

/**
 * Starts `nats-server` on `127.0.0.1` and a free port, and resolves once it accepts clients.
 * Rejects, with the captured output in the message, when it exits early or does not listen within
 * the start timeout (10 s by default).
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = requireBinary("nats-server");
  const extra = options.args ?? [];
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  let text = "";
  let run: _Run | undefined;
  let port = -1;

  const launch = async (requestedPort: number): Promise<void> => {
    const child = new Deno.Command(binary, {
      args: ["-a", "127.0.0.1", "-p", String(requestedPort), ...extra],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let onListening: ((port: number) => void) | undefined;
    const listening = new Promise<number>((resolve) => (onListening = resolve));
    let lineBuffer = "";
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        const piece = decoder.decode(chunk, { stream: true });
        text += piece;
        if (onListening) {
          lineBuffer += piece;
          const match = LISTENING.exec(lineBuffer);
          if (match) {
            onListening(Number(match[1]));
            onListening = undefined;
            lineBuffer = "";
          }
        }
      }
    };
    const current: _Run = {
      child,
      drained: Promise.all([collect(child.stdout), collect(child.stderr)]).then(() => {}),
      exited: false,
    };
    run = current;
    const exited = child.status.then((status) => {
      current.exited = true;
      return status;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), startTimeoutMs);
    });
    try {
      const first = await Promise.race([listening, exited, timedOut]);
      if (typeof first === "number") {
        port = first;
        return;
      }
      if (first === "timeout") {
        await stopRun(current);
        throw new Error(
          `nats-server did not listen within ${startTimeoutMs}ms; its output:\n${text}`,
        );
      }
      await current.drained;
      throw new Error(`nats-server exited with code ${first.code} before listening:\n${text}`);
    } finally {
      clearTimeout(timer);
    }
  };

  await launch(-1);

  const server: NatsServer = {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get pid() {
      if (!run) throw new Error("nats-server is not running");
      return run.child.pid;
    },
    output: () => text,
    stop: async () => {
      if (run) await stopRun(run);
    },
    restart: async () => {
      if (run) await stopRun(run);
      await launch(port);
    },
    [Symbol.asyncDispose]: () => server.stop(),
  };
  return server;
}

/** SIGINT by PID, wait for the exit, SIGKILL after the grace period; then drain the pipes. */
async function stopRun(run: _Run): Promise<void> {
  if (!run.exited) {
    try {
      Deno.kill(run.child.pid, "SIGINT");
    } catch {
      // already gone
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), STOP_GRACE_MS);
    });
    const result = await Promise.race([run.child.status, late]);
    clearTimeout(timer);
    if (result === "late") {
      try {
        Deno.kill(run.child.pid, "SIGKILL");
      } catch {
        // already gone
      }
      await run.child.status;
    }
  } else {
    await run.child.status;
  }
  await run.drained;
}
