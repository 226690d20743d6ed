/**
 * Starts a real 3-member etcd cluster for a test: each member on its own free loopback client and
 * peer ports, with a data directory of its own, joined by `--initial-cluster`.
 * {@linkcode EtcdCluster.leader} asks the members over the HTTP gateway
 * (`POST /v3/maintenance/status`: `leader` is a member id, `header.member_id` the answering
 * member's); {@linkcode EtcdCluster.kill} stops a member by PID (SIGKILL by default: a crash, and
 * no HTTP/2 GOAWAY, see tests/chaos/etcd_outage_test.ts) and {@linkcode EtcdCluster.restart} starts
 * it again with its data, as a member of the existing cluster.
 *
 * The members write to log files (read by {@linkcode EtcdCluster.output}), not pipes.
 *
 * @example
 * ```ts ignore
 * import { startEtcdCluster } from "./etcd_cluster.ts";
 * await using cluster = await startEtcdCluster();
 * const leader = await cluster.leader();
 * await cluster.kill(leader);
 * await cluster.restart(leader);
 * ```
 *
 * @module
 */

import { requireBinary } from "./binaries.ts";
import { ClusterMember, freeLoopbackPort } from "./cluster_member.ts";
import { eventually } from "./eventually.ts";

/** One member of the cluster. */
export interface EtcdClusterMember {
  /** `e1`, `e2`, `e3`. */
  readonly name: string;
  /** The client URL, `http://127.0.0.1:<clientPort>`. */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** The PID of the running process, `undefined` while it is stopped. */
  readonly pid: number | undefined;
}

/** A running 3-member cluster that a test owns. */
export interface EtcdCluster extends AsyncDisposable {
  readonly members: readonly EtcdClusterMember[];
  /** The client URLs of every member, in order. */
  readonly endpoints: readonly string[];
  /** Everything member `index` wrote, across restarts. */
  output(index: number): string;
  /**
   * The index of the leader that the running members agree on (polled, bounded by `timeoutMs`,
   * default 15 s).
   */
  leader(timeoutMs?: number): Promise<number>;
  /** Stops member `index` by PID (default SIGKILL) and waits for it to exit. */
  kill(index: number, signal?: Deno.Signal): Promise<void>;
  /** Starts member `index` again with its data and waits until it is healthy. */
  restart(index: number): Promise<void>;
  /** Stops every member (SIGKILL) and removes the data directories. */
  stop(): Promise<void>;
}

const CLUSTER_TOKEN = "meshwork-test-cluster";
const HEALTH_TIMEOUT_MS = 20_000;

/** `POST /v3/maintenance/status` of one member: its id and the leader it knows, or undefined. */
async function _status(endpoint: string): Promise<{ self: string; leader: string } | undefined> {
  try {
    const response = await fetch(`${endpoint}/v3/maintenance/status`, {
      method: "POST",
      body: "{}",
      signal: AbortSignal.timeout(1000),
    });
    const body = await response.json() as { leader?: string; header?: { member_id?: string } };
    const self = body.header?.member_id;
    if (!response.ok || !self || !body.leader || body.leader === "0") return undefined;
    return { self, leader: body.leader };
  } catch {
    return undefined;
  }
}

/** `GET /health`: true when the member serves (it has a leader). */
async function _healthy(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    const body = await response.json() as { health?: string };
    return response.ok && body.health === "true";
  } catch {
    return false;
  }
}

class _Member extends ClusterMember implements EtcdClusterMember {
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /** The member id etcd gave it (hex, as the gateway prints it), once seen. */
  id: string | undefined;

  constructor(name: string, root: string, taken: Set<number>) {
    super(name, `${root}/${name}.log`);
    this.clientPort = freeLoopbackPort(taken);
    this.peerPort = freeLoopbackPort(taken);
    this.dataDir = `${root}/${name}`;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  get peer(): string {
    return `http://127.0.0.1:${this.peerPort}`;
  }
}

class _Cluster implements EtcdCluster {
  readonly members: readonly _Member[];
  readonly #root: string;
  readonly #binary: string;

  constructor(root: string, binary: string) {
    this.#root = root;
    this.#binary = binary;
    const taken = new Set<number>();
    this.members = ["e1", "e2", "e3"].map((name) => new _Member(name, root, taken));
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  output(index: number): string {
    return this.members[index]!.output();
  }

  /** Launches member `index` (no wait); `state` is `new` the first time, `existing` after. */
  launch(index: number, state: "new" | "existing"): void {
    const member = this.members[index]!;
    if (member.started) return;
    const initial = this.members.map((m) => `${m.name}=${m.peer}`).join(",");
    const args = [
      `--name=${member.name}`,
      `--data-dir=${member.dataDir}`,
      `--listen-client-urls=${member.endpoint}`,
      `--advertise-client-urls=${member.endpoint}`,
      `--listen-peer-urls=${member.peer}`,
      `--initial-advertise-peer-urls=${member.peer}`,
      `--initial-cluster=${initial}`,
      `--initial-cluster-state=${state}`,
      `--initial-cluster-token=${CLUSTER_TOKEN}`,
      "--logger=zap",
    ];
    member.spawn(this.#binary, args, "etcd");
  }

  /** Waits until member `index` answers `/health` (its process must not exit meanwhile). */
  async healthy(index: number): Promise<void> {
    const member = this.members[index]!;
    await eventually(`etcd member ${member.name} healthy`, async () => {
      if (member.gone) throw new Error(`etcd ${member.name} exited:\n${this.output(index)}`);
      return await _healthy(member.endpoint);
    }, { timeoutMs: HEALTH_TIMEOUT_MS, intervalMs: 50 });
    member.id ??= (await _status(member.endpoint))?.self;
  }

  async leader(timeoutMs = 15_000): Promise<number> {
    let found = -1;
    await eventually("the etcd members agreeing on a leader", async () => {
      const running = this.members.filter((m) => m.running);
      const statuses = await Promise.all(running.map((m) => _status(m.endpoint)));
      if (statuses.some((s) => s === undefined)) return false;
      running.forEach((m, i) => (m.id ??= statuses[i]!.self));
      const leaders = new Set(statuses.map((s) => s!.leader));
      if (leaders.size !== 1) return false;
      const [leader] = leaders;
      found = this.members.findIndex((m) => m.id === leader && m.running);
      return found >= 0;
    }, { timeoutMs, intervalMs: 50 });
    return found;
  }

  async kill(index: number, signal: Deno.Signal = "SIGKILL"): Promise<void> {
    await this.members[index]!.stop(signal);
  }

  async restart(index: number): Promise<void> {
    await this.kill(index);
    this.launch(index, "existing");
    await this.healthy(index);
  }

  async stop(): Promise<void> {
    // SIGKILL: a graceful stop sends HTTP/2 GOAWAY, which crashes Deno processes that still hold
    // connections to etcd (denoland/deno#36788; tests/chaos/etcd_graceful_stop_test.ts).
    await Promise.all(this.members.map((_, index) => this.kill(index)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.#root, { recursive: true }).catch(() => {});
  }
}

/**
 * Starts three etcd members in one cluster on free loopback ports and waits until each is
 * healthy and they agree on a leader (the error carries the members' output).
 */
export async function startEtcdCluster(): Promise<EtcdCluster> {
  const binary = requireBinary("etcd");
  // Ports picked free may be taken by someone else before etcd binds them: try a few times, each
  // with fresh ports and data.
  for (let attempt = 1;; attempt++) {
    const root = await Deno.makeTempDir({ prefix: "meshwork-etcd-cluster-" });
    const cluster = new _Cluster(root, binary);
    try {
      for (const [index] of cluster.members.entries()) cluster.launch(index, "new");
      await Promise.all(cluster.members.map((_, index) => cluster.healthy(index)));
      await cluster.leader();
      return cluster;
    } catch (error) {
      const logs = cluster.members.map((_, i) => cluster.output(i).slice(-3000)).join("\n");
      await cluster[Symbol.asyncDispose]();
      if (/address already in use/.test(logs) && attempt < 3) continue;
      throw new Error(`${(error as Error).message}\n${logs}`, { cause: error });
    }
  }
}
