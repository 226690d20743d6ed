/**
 * The mesh of the cluster fault tests (not a test file): a real 3-server NATS cluster and a real
 * 3-member etcd cluster, the hello-world gateway and Processor in one process and the Workers in
 * two `worker` processes (configs/multi_worker.yaml, one instance each), every process given all
 * three NATS servers and all three etcd endpoints (`NATS_SERVER`, `ETCD_ENDPOINTS`).
 *
 * @module
 */

import { type EtcdCluster, startEtcdCluster } from "../helpers/etcd_cluster.ts";
import { freePort } from "../helpers/free_port.ts";
import { type MeshProcess, pidAlive, spawnMesh } from "../helpers/mesh_process.ts";
import { type NatsCluster, startNatsCluster } from "../helpers/nats_cluster.ts";
import { untilInstances, untilReady } from "../helpers/ops_probe.ts";
import { spawnFront } from "./harness.ts";

/** The running mesh on both clusters. */
export interface ClusterMesh extends AsyncDisposable {
  nats: NatsCluster;
  etcd: EtcdCluster;
  /** The environment every mesh process got. */
  env: Record<string, string>;
  front: MeshProcess;
  workers: MeshProcess[];
  /** The gateway's `http://127.0.0.1:<port>`. */
  base: string;
  /** The mesh processes whose pid is gone. */
  exited(): string[];
}

/** Options for {@linkcode startClusterMesh}. */
export interface ClusterMeshOptions {
  /** Extra environment of every mesh process (e.g. `MESH_LEASE_TTL_S`). */
  env?: Record<string, string>;
}

/**
 * Starts both clusters, then the front process and two Worker processes, and waits until the
 * gateway is ready and sees both Workers.
 */
export async function startClusterMesh(options: ClusterMeshOptions = {}): Promise<ClusterMesh> {
  const [nats, etcd] = await Promise.all([startNatsCluster(), startEtcdCluster()]);
  const env = {
    NATS_SERVER: nats.urls.join(","),
    ETCD_ENDPOINTS: etcd.endpoints.join(","),
    ...options.env,
  };
  const port = await freePort();
  const front = spawnFront(env, port);
  const workers = ["w1", "w2"].map((name) =>
    spawnMesh(
      [
        "worker",
        "--config",
        "configs/multi_worker.yaml",
        "--instances",
        "1",
        "--Worker.delay_ms=10",
      ],
      { env: { ...env, MESH_HOSTNAME: name } },
    )
  );
  const processes = [front, ...workers];
  const mesh: ClusterMesh = {
    nats,
    etcd,
    env,
    front,
    workers,
    base: `http://127.0.0.1:${port}`,
    exited: () =>
      processes.filter((p) => !pidAlive(p.pid)).map((p) => `${p.pid}:\n${p.output().slice(-2000)}`),
    async [Symbol.asyncDispose]() {
      for (const p of processes) await p[Symbol.asyncDispose]();
      await Promise.all([nats[Symbol.asyncDispose](), etcd[Symbol.asyncDispose]()]);
    },
  };
  try {
    await untilReady(mesh.base, { timeoutMs: 60_000 });
    await untilInstances(mesh.base, "Worker", 2, { timeoutMs: 60_000 });
  } catch (error) {
    const logs = processes.map((p) => p.output().slice(-2000)).join("\n---\n");
    await mesh[Symbol.asyncDispose]();
    throw new Error(`${(error as Error).message}\n${logs}`, { cause: error });
  }
  return mesh;
}
