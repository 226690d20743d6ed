/**
 * `serve --initialize-request-plane` (seed 002): starts a `nats-server` with JetStream and a
 * single-member `etcd` for this mesh, on free loopback ports with a fresh temporary data
 * directory, when the config and environment name none; and stops them (by PID: SIGINT for NATS,
 * SIGTERM for etcd, SIGKILL after a grace period) and removes their data when the mesh stops.
 *
 * Each server's output is appended to `<logDir>/nats-server.log` / `<logDir>/etcd.log` (or to the
 * temporary directory). Files are made by `/bin/sh` and `mktemp`, so `serve` needs no write
 * permission, only `--allow-run`, which it has for `ServiceArgs.processes`.
 *
 * @example
 * ```ts ignore
 * const planes = await startLocalPlanes({ nats: true, etcd: true });
 * console.log(planes.natsUrl, planes.etcdEndpoint, planes.pids);
 * await planes.stop();
 * ```
 *
 * @module
 */

/** What to start. */
export interface LocalPlanesOptions {
  /** Start a `nats-server -js`. */
  nats: boolean;
  /** Start an `etcd`. */
  etcd: boolean;
  /** Directory of the servers' log files. Default: their temporary data directory. */
  logDir?: string;
  /** How long each server may take to serve. Default 15 000 ms. */
  startTimeoutMs?: number;
}

/** The servers `serve` started. */
export interface LocalPlanes {
  /** `nats://127.0.0.1:PORT`, when NATS was started. */
  natsUrl?: string;
  /** `http://127.0.0.1:PORT`, when etcd was started. */
  etcdEndpoint?: string;
  /** The PIDs of the started servers, by program name. */
  pids: { "nats-server"?: number; etcd?: number };
  /** Where their data (and, without `logDir`, their logs) are. */
  dataDir: string;
  /** Stops every started server and removes the data directory. Idempotent. */
  stop(): Promise<void>;
}

const _STOP_GRACE_MS = 5_000;

interface _Server {
  name: "nats-server" | "etcd";
  child: Deno.ChildProcess;
  stopSignal: Deno.Signal;
}

/** Starts the servers asked for; on failure, stops what started and rejects with their log. */
export async function startLocalPlanes(options: LocalPlanesOptions): Promise<LocalPlanes> {
  const timeoutMs = options.startTimeoutMs ?? 15_000;
  const dataDir = await _makeTempDir();
  const logDir = options.logDir ?? dataDir;
  const servers: _Server[] = [];
  const planes: LocalPlanes = { pids: {}, dataDir, stop: () => stopping ??= stop() };
  let stopping: Promise<void> | undefined;
  const stop = async () => {
    await Promise.all(servers.reverse().map(_stopServer));
    await _run("rm", ["-rf", dataDir]).catch(() => {});
  };
  try {
    if (options.nats) {
      const port = _freePort();
      const server = _spawn("nats-server", `${logDir}/nats-server.log`, [
        "-a",
        "127.0.0.1",
        "-p",
        String(port),
        "-js",
        "-sd",
        `${dataDir}/jetstream`,
      ], "SIGINT");
      servers.push(server);
      await _waitUntil(server, `${logDir}/nats-server.log`, timeoutMs, () => _accepts(port));
      planes.natsUrl = `nats://127.0.0.1:${port}`;
      planes.pids["nats-server"] = server.child.pid;
    }
    if (options.etcd) {
      const client = _freePort();
      let peer = _freePort();
      while (peer === client) peer = _freePort();
      const endpoint = `http://127.0.0.1:${client}`;
      const peerUrl = `http://127.0.0.1:${peer}`;
      const server = _spawn("etcd", `${logDir}/etcd.log`, [
        "--name=meshwork",
        `--data-dir=${dataDir}/etcd`,
        `--listen-client-urls=${endpoint}`,
        `--advertise-client-urls=${endpoint}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=meshwork=${peerUrl}`,
        "--initial-cluster-state=new",
      ], "SIGTERM");
      servers.push(server);
      await _waitUntil(server, `${logDir}/etcd.log`, timeoutMs, () => _healthy(endpoint));
      planes.etcdEndpoint = endpoint;
      planes.pids.etcd = server.child.pid;
    }
  } catch (error) {
    await planes.stop();
    throw error;
  }
  return planes;
}

/** Starts `program` with its output appended to `logFile`; the PID is the program's own. */
function _spawn(
  name: _Server["name"],
  logFile: string,
  args: string[],
  stopSignal: Deno.Signal,
): _Server {
  const script = 'f=$1; shift; mkdir -p "$(dirname "$f")" && exec "$@" >>"$f" 2>&1';
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", logFile, name, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return { name, child, stopSignal };
}

/** Polls `ready` until it holds; rejects when the server exits first or the time is up. */
async function _waitUntil(
  server: _Server,
  logFile: string,
  timeoutMs: number,
  ready: () => Promise<boolean>,
): Promise<void> {
  let exited: Deno.CommandStatus | undefined;
  server.child.status.then((status) => (exited = status));
  const giveUpAt = Date.now() + timeoutMs;
  while (Date.now() < giveUpAt) {
    if (exited) break;
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const why = exited
    ? exited.code === 127
      ? `"${server.name}" is not installed (install it, or configure NATS and etcd)`
      : `"${server.name}" exited with code ${exited.code}`
    : `"${server.name}" did not serve within ${timeoutMs} ms`;
  throw new Error(`Cannot initialize the request plane: ${why}; see its log "${logFile}"`);
}

/** SIGINT/SIGTERM by PID, SIGKILL after the grace period; resolves once it has exited. */
async function _stopServer(server: _Server): Promise<void> {
  let done = false;
  server.child.status.then(() => (done = true));
  const signal = (name: Deno.Signal) => {
    try {
      if (!done) server.child.kill(name);
    } catch {
      // already gone
    }
  };
  signal(server.stopSignal);
  const late = setTimeout(() => signal("SIGKILL"), _STOP_GRACE_MS);
  await server.child.status;
  clearTimeout(late);
}

/** Whether a TCP connection to `127.0.0.1:port` is accepted. */
async function _accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** One `GET /health` with a short timeout; true when the etcd member says it is healthy. */
async function _healthy(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    const body = await response.text();
    return response.ok && JSON.parse(body)?.health === "true";
  } catch {
    return false;
  }
}

/** A free loopback TCP port (bound to port 0, read, released). */
function _freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A fresh temporary directory, made by `mktemp` (no write permission needed here). */
async function _makeTempDir(): Promise<string> {
  const output = await _run("mktemp", ["-d", "-t", "meshwork-planes.XXXXXX"]);
  return output.trim();
}

async function _run(program: string, args: string[]): Promise<string> {
  const { success, code, stdout, stderr } = await new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(
      `"${program} ${args.join(" ")}" failed with code ${code}: ${
        new TextDecoder().decode(stderr).trim()
      }`,
    );
  }
  return new TextDecoder().decode(stdout);
}
