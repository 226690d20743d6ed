/**
 * Starts a real 3-server NATS cluster with JetStream for a test: each `nats-server -js` on its
 * own free loopback client, route and monitoring ports (`-p`, `--cluster`, `-m`), with a server
 * name, the cluster name, routes to the two others and a JetStream store dir of its own (`-sd`).
 * {@linkcode NatsCluster.kill} stops one server by PID (SIGKILL by default) and
 * {@linkcode NatsCluster.restart} starts it again on the same ports with the same store, so that
 * clients and the JetStream meta group take it back. Readiness is read from the monitoring port:
 * `/jsz` names a meta leader and counts every peer.
 *
 * The servers write to log files (read by {@linkcode NatsCluster.output}), not pipes: a running
 * cluster holds no pending read in the test process.
 *
 * @example
 * ```ts ignore
 * import { startNatsCluster } from "./nats_cluster.ts";
 * await using cluster = await startNatsCluster();
 * console.log(cluster.urls.join(",")); // nats://127.0.0.1:A,nats://127.0.0.1:B,nats://127.0.0.1:C
 * await cluster.kill(0);
 * await cluster.restart(0);
 * ```
 *
 * @module
 */

import { requireBinary } from "./binaries.ts";
import { ClusterMember, freeLoopbackPort } from "./cluster_member.ts";
import { eventually } from "./eventually.ts";

/** One server of the cluster. */
export interface NatsClusterServer {
  /** `n1`, `n2`, `n3`. */
  readonly name: string;
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  readonly clusterPort: number;
  readonly monitorPort: number;
  /** The PID of the running process, `undefined` while it is stopped. */
  readonly pid: number | undefined;
}

/** A running 3-server cluster that a test owns. */
export interface NatsCluster extends AsyncDisposable {
  readonly servers: readonly NatsClusterServer[];
  /** The client URLs of every server, in order. */
  readonly urls: readonly string[];
  /** Everything server `index` wrote, across restarts (for failing tests). */
  output(index: number): string;
  /** Stops server `index` by PID (default SIGKILL: a crash) and waits for it to exit. */
  kill(index: number, signal?: Deno.Signal): Promise<void>;
  /** Starts server `index` again on its ports with its store; waits until the cluster is whole. */
  restart(index: number): Promise<void>;
  /** Waits until every running server sees a meta leader and every running peer (bounded). */
  ready(timeoutMs?: number): Promise<void>;
  /** The index of the server leading JetStream stream `stream` (from `/jsz`), or `undefined`. */
  streamLeader(stream: string): Promise<number | undefined>;
  /** Stops every server (SIGINT, then SIGKILL) and removes the store dirs. */
  stop(): Promise<void>;
}

/** What `/jsz` says of the JetStream meta group. */
interface _Jsz {
  meta_cluster?: {
    leader?: string;
    replicas?: { name: string; current?: boolean; offline?: boolean }[];
  };
}

const CLUSTER_NAME = "meshwork-test";
const START_TIMEOUT_MS = 20_000;

/** GET a monitoring route as JSON, or `undefined` when the server does not answer. */
async function _monitor(port: number, path: string): Promise<unknown> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      signal: AbortSignal.timeout(1000),
    });
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    return await response.json();
  } catch {
    return undefined;
  }
}

class _Server extends ClusterMember implements NatsClusterServer {
  readonly port: number;
  readonly clusterPort: number;
  readonly monitorPort: number;
  readonly storeDir: string;

  constructor(name: string, root: string, taken: Set<number>) {
    super(name, `${root}/${name}.log`);
    this.port = freeLoopbackPort(taken);
    this.clusterPort = freeLoopbackPort(taken);
    this.monitorPort = freeLoopbackPort(taken);
    this.storeDir = `${root}/${name}`;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }
}

class _Cluster implements NatsCluster {
  readonly servers: readonly _Server[];
  readonly #root: string;
  readonly #binary: string;

  constructor(root: string, binary: string) {
    this.#root = root;
    this.#binary = binary;
    const taken = new Set<number>();
    this.servers = ["n1", "n2", "n3"].map((name) => new _Server(name, root, taken));
  }

  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  output(index: number): string {
    return this.servers[index]!.output();
  }

  /** Launches server `index` (no wait). */
  launch(index: number): void {
    const server = this.servers[index]!;
    if (server.started) return;
    const routes = this.servers.filter((s) => s !== server)
      .map((s) => `nats://127.0.0.1:${s.clusterPort}`).join(",");
    const args = [
      "-a",
      "127.0.0.1",
      "-p",
      String(server.port),
      "-m",
      String(server.monitorPort),
      "-n",
      server.name,
      "-js",
      "-sd",
      server.storeDir,
      "--cluster_name",
      CLUSTER_NAME,
      "--cluster",
      `nats://127.0.0.1:${server.clusterPort}`,
      "--routes",
      routes,
    ];
    server.spawn(this.#binary, args, "nats-server");
  }

  async ready(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const running = this.servers.filter((s) => s.started);
    const died = () => this.servers.find((s) => s.started && s.gone);
    await eventually(
      `the NATS cluster ready (meta leader, ${running.length} peers)`,
      async () => {
        const dead = died();
        if (dead) {
          throw new Error(
            `nats-server ${dead.name} exited:\n${this.output(this.servers.indexOf(dead))}`,
          );
        }
        const names = new Set(running.map((s) => s.name));
        let leader: string | undefined;
        for (const server of running) {
          const jsz = await _monitor(server.monitorPort, "/jsz") as _Jsz | undefined;
          const seen = jsz?.meta_cluster?.leader;
          if (!seen || !names.has(seen) || (leader !== undefined && seen !== leader)) return false;
          leader = seen;
        }
        const leading = running.find((s) => s.name === leader)!;
        const jsz = await _monitor(leading.monitorPort, "/jsz") as _Jsz | undefined;
        const current = (jsz?.meta_cluster?.replicas ?? [])
          .filter((r) => names.has(r.name) && r.current === true && r.offline !== true).length;
        if (current + 1 < running.length) return false;
        return true;
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  async kill(index: number, signal: Deno.Signal = "SIGKILL"): Promise<void> {
    await this.servers[index]!.stop(signal);
  }

  async restart(index: number): Promise<void> {
    await this.servers[index]!.stop("SIGINT");
    this.launch(index);
    await this.ready();
  }

  async streamLeader(stream: string): Promise<number | undefined> {
    for (const server of this.servers) {
      if (!server.started) continue;
      const jsz = await _monitor(server.monitorPort, "/jsz?accounts=true&streams=true") as {
        account_details?: {
          stream_detail?: { name: string; cluster?: { leader?: string } }[];
        }[];
      } | undefined;
      for (const account of jsz?.account_details ?? []) {
        for (const detail of account.stream_detail ?? []) {
          if (detail.name !== stream || !detail.cluster?.leader) continue;
          const index = this.servers.findIndex((s) => s.name === detail.cluster!.leader);
          if (index >= 0) return index;
        }
      }
    }
    return undefined;
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop("SIGINT")));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.#root, { recursive: true }).catch(() => {});
  }
}

/**
 * Starts three `nats-server -js` in one cluster on free loopback ports and waits until JetStream
 * has a meta leader that counts all three (at most 20 s; the error carries the output).
 */
export async function startNatsCluster(): Promise<NatsCluster> {
  const binary = requireBinary("nats-server");
  const root = await Deno.makeTempDir({ prefix: "meshwork-nats-cluster-" });
  const cluster = new _Cluster(root, binary);
  for (const [index] of cluster.servers.entries()) cluster.launch(index);
  try {
    await cluster.ready();
  } catch (error) {
    const logs = cluster.servers.map((_, i) => cluster.output(i)).join("\n");
    await cluster[Symbol.asyncDispose]();
    throw new Error(`${(error as Error).message}\n${logs}`, { cause: error });
  }
  return cluster;
}
