/**
 * Starts a real, single-member etcd for a test: free loopback ports, a temporary data directory,
 * `/health` polled until the member serves, and a clean stop by process id.
 *
 * The server's output goes to a log file (read by {@linkcode EtcdServer.output}) rather than to a
 * pipe, so a running server holds no pending read in the test process: a test that stops its
 * server in `finally` (or with `await using`) passes Deno's op and resource sanitizers.
 *
 * @example
 * ```ts ignore
 * import { startEtcd } from "./etcd_server.ts";
 * await using etcd = await startEtcd();
 * console.log(etcd.endpoint); // http://127.0.0.1:40123
 * await etcd.restart({ wipeData: true }); // same ports, empty store
 * ```
 *
 * @module
 */

import { requireBinary } from "./binaries.ts";

/** Options for {@linkcode startEtcd}. */
export interface StartEtcdOptions {
  /**
   * The data directory. Default: `data/` inside a fresh temporary directory that
   * `[Symbol.asyncDispose]` removes. A directory given here is left in place.
   */
  dataDir?: string;
}

/** Options for {@linkcode EtcdServer.restart}. */
export interface RestartEtcdOptions {
  /** Empty the data directory first, so the server comes back as a new, empty store. */
  wipeData?: boolean;
}

/** A running (or stopped) etcd member started by {@linkcode startEtcd}. */
export interface EtcdServer extends AsyncDisposable {
  /** The client URL, `http://127.0.0.1:<clientPort>`. */
  readonly endpoint: string;
  /** The client port (fixed for the life of the object, across restarts). */
  readonly clientPort: number;
  /** The peer port (fixed for the life of the object, across restarts). */
  readonly peerPort: number;
  /** The data directory. */
  readonly dataDir: string;
  /** The process id of the running server, or `undefined` when it is stopped. */
  readonly pid: number | undefined;
  /** Everything the server has written to stdout and stderr, across restarts. */
  output(): string;
  /** Starts the server again on the same ports and waits until it is healthy. */
  start(): Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s) and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
  /** Stops the server and starts it again on the same ports, keeping or wiping its data. */
  restart(options?: RestartEtcdOptions): Promise<void>;
}

const HEALTH_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 3_000;
const NAME = "meshwork-test";

/** A free loopback TCP port (bound to port 0, read, released). */
function _freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function _delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One `GET /health` with its own short timeout; true when the member reports healthy. */
async function _healthy(endpoint: string): Promise<boolean> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 1_000);
  try {
    const response = await fetch(`${endpoint}/health`, { signal: controller.signal });
    const body = await response.text();
    return response.ok && JSON.parse(body)?.health === "true";
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

class _EtcdServer implements EtcdServer {
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly #root: string;
  readonly #ownsDataDir: boolean;
  readonly #logPath: string;
  readonly #binary: string;
  #child: Deno.ChildProcess | undefined;
  #exited: Promise<Deno.CommandStatus> | undefined;

  constructor(root: string, dataDir: string | undefined, binary: string) {
    this.#root = root;
    this.#binary = binary;
    this.#ownsDataDir = dataDir === undefined;
    this.dataDir = dataDir ?? `${root}/data`;
    this.#logPath = `${root}/etcd.log`;
    this.clientPort = _freePort();
    let peerPort = _freePort();
    while (peerPort === this.clientPort) peerPort = _freePort();
    this.peerPort = peerPort;
    this.endpoint = `http://127.0.0.1:${this.clientPort}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  output(): string {
    try {
      return Deno.readTextFileSync(this.#logPath);
    } catch {
      return "";
    }
  }

  async start(): Promise<void> {
    if (this.#child) return;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const args = [
      `--name=${NAME}`,
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${this.endpoint}`,
      `--advertise-client-urls=${this.endpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=${NAME}=${peer}`,
      `--initial-cluster-state=new`,
      `--logger=zap`,
    ];
    Deno.writeTextFileSync(this.#logPath, `--- starting etcd ${args.join(" ")}\n`, {
      append: true,
    });
    // `exec` keeps the process id: the pid we signal is etcd's own, never a shell's.
    const child = new Deno.Command("/bin/sh", {
      args: ["-c", 'exec "$0" "$@" >>"$MESHWORK_ETCD_LOG" 2>&1', this.#binary, ...args],
      env: { MESHWORK_ETCD_LOG: this.#logPath },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#child = child;
    this.#exited = child.status;
    await this.#waitHealthy(child);
  }

  async #waitHealthy(child: Deno.ChildProcess): Promise<void> {
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    let exited: Deno.CommandStatus | undefined;
    this.#exited!.then((status) => (exited = status));
    while (Date.now() < deadline) {
      if (exited) break;
      if (await _healthy(this.endpoint)) return;
      await _delay(25);
    }
    if (!exited) await this.stop();
    else if (this.#child === child) [this.#child, this.#exited] = [undefined, undefined];
    const why = exited
      ? `it exited with code ${exited.code}`
      : `it was not healthy after ${HEALTH_TIMEOUT_MS / 1000}s`;
    throw new Error(`Cannot start etcd at ${this.endpoint}: ${why}; its output:\n${this.output()}`);
  }

  async stop(): Promise<void> {
    const child = this.#child;
    const exited = this.#exited;
    if (!child || !exited) return;
    let done = false;
    exited.then(() => (done = true), () => (done = true));
    const signal = (name: Deno.Signal) => {
      try {
        if (!done) Deno.kill(child.pid, name);
      } catch {
        // already gone
      }
    };
    signal("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), STOP_GRACE_MS);
    });
    const first = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    if (first === "timeout") signal("SIGKILL");
    await exited;
    this.#child = undefined;
    this.#exited = undefined;
  }

  async restart(options: RestartEtcdOptions = {}): Promise<void> {
    await this.stop();
    if (options.wipeData) await Deno.remove(this.dataDir, { recursive: true }).catch(() => {});
    await this.start();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    if (this.#ownsDataDir) await Deno.remove(this.#root, { recursive: true }).catch(() => {});
    else await Deno.remove(this.#logPath).catch(() => {});
  }
}

/**
 * Starts a single-member etcd on free loopback ports and waits until `GET /health` says it is
 * healthy (at most 15 s; the error carries the server's output).
 *
 * @example
 * ```ts ignore
 * import { startEtcd } from "./etcd_server.ts";
 * const etcd = await startEtcd();
 * try {
 *   // ... connect to etcd.endpoint
 * } finally {
 *   await etcd[Symbol.asyncDispose]();
 * }
 * ```
 */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  const binary = requireBinary("etcd");
  const root = await Deno.makeTempDir({ prefix: "meshwork-etcd-" });
  // A port picked free may be taken by someone else before etcd binds it: try a few times.
  for (let attempt = 1;; attempt++) {
    const server = new _EtcdServer(root, options.dataDir, binary);
    try {
      await server.start();
      return server;
    } catch (error) {
      const portTaken = /address already in use/.test(server.output());
      await server.stop();
      if (!portTaken || attempt >= 3) {
        await server[Symbol.asyncDispose]().catch(() => {});
        throw error;
      }
      await Deno.remove(`${root}/etcd.log`).catch(() => {});
      if (options.dataDir === undefined) {
        await Deno.remove(`${root}/data`, { recursive: true }).catch(() => {});
      }
    }
  }
}
