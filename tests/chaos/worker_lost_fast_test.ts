/**
 * Issue 11, point 5: a worker lost in the middle of a request is noticed by its caller within
 * about a second, whatever the cause — killed (`kill -9`), frozen (`SIGSTOP`), or its host cut off
 * the network with no FIN. Under steady load (8 loops of ~300 ms requests to the resumable
 * `Steady`, `fixtures/lost_worker_graph.ts`), the slowest request that was in flight on the lost
 * worker must complete — its full answer, from the other worker — within 1.5 s of the fault.
 *
 * The caller runs with the product defaults: it probes an instance whose call went quiet for
 * 300 ms, and counts it lost on "no responders" (the kill: the server drops a closed socket's
 * subscriptions) or on no answer within 400 ms (the freeze, the partition). The lease (10 s TTL)
 * and the heartbeat timeout (4 s) are far slower; they play no part here.
 *
 * The partition: the caller (`fixtures/lost_worker_driver.ts` run as a program), nats-server and
 * etcd on node1, the workers on node2 and node3 (network namespaces, `tests/helpers/netns.ts`);
 * node2's link goes down. The NATS server does not drop the silent client by itself for minutes
 * (its default ping interval is 2 min), so only the caller's probe can tell. Needs root: skipped
 * with the reason otherwise (a failure under `CI=true`).
 *
 * Each test prints one line per fault: requests in flight on the lost worker, and the slowest
 * completion after the fault.
 */

import assert from "node:assert/strict";
import { requireBinary } from "../helpers/binaries.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { type MeshProcess, spawnMesh } from "../helpers/mesh_process.ts";
import { createTopology, netnsUnavailable } from "../helpers/netns.ts";
import { bounded, meshNode } from "./harness.ts";
import { Steady } from "./fixtures/lost_worker_graph.ts";
import { type LossReport, measureLoss } from "./fixtures/lost_worker_driver.ts";

const GRAPH = "tests/chaos/fixtures/lost_worker_graph.ts";
const DRIVER = new URL("./fixtures/lost_worker_driver.ts", import.meta.url).pathname;
const WORKER_ARGS = ["worker", "--graph", GRAPH, "--component", "Steady"];
/** The bound of the issue. */
const BOUND_MS = 1500;
const CI = Deno.env.get("CI") === "true";
const NETNS_UNAVAILABLE = await netnsUnavailable();
if (NETNS_UNAVAILABLE && !CI) {
  console.warn(`worker_lost_fast_test: the partition case is skipped: ${NETNS_UNAVAILABLE}`);
}

function printReport(fault: string, report: LossReport): void {
  console.log(
    `worker-lost ${fault}: in flight on it ${report.inflightOnVictim} (of ${report.inflight}), ` +
      `slowest completion ${report.slowestMs} ms after the fault (all in flight: ` +
      `${report.slowestAllMs} ms); errors ${report.errors.length}; after the fault ` +
      `${report.after} requests, ${report.afterOnVictim} on the lost worker`,
  );
}

function checkReport(fault: string, report: LossReport): void {
  assert.deepEqual(report.errors, [], `${fault}: every request got its full answer`);
  assert.ok(report.inflightOnVictim > 0, `${fault}: a request was in flight on the lost worker`);
  assert.ok(
    report.slowestMs <= BOUND_MS,
    `${fault}: the slowest request caught on the lost worker completed ${report.slowestMs} ms ` +
      `after the fault (bound ${BOUND_MS} ms)`,
  );
  assert.ok(report.slowestAllMs <= BOUND_MS, `${fault}: ${report.slowestAllMs} ms`);
  assert.equal(report.afterOnVictim, 0, `${fault}: a later request was answered by the lost one`);
}

/** Two worker processes (node-a is the victim) and an in-process caller on real NATS and etcd. */
async function processFault(fault: "kill" | "freeze"): Promise<void> {
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  const env = { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
  await using a = spawnMesh(WORKER_ARGS, { env: { ...env, MESH_HOSTNAME: "node-a" } });
  await using b = spawnMesh(WORKER_ARGS, { env: { ...env, MESH_HOSTNAME: "node-b" } });
  try {
    await using caller = await meshNode("caller", nats.url, etcd.endpoint, {
      namespace: "lost_fast",
    });
    const client = caller.runtime.client(Steady);
    await bounded(client.waitForInstances(2, { quiet: true }), 30_000, "two workers");
    const report = await measureLoss(client, {
      victimHost: "node-a",
      fault: () => a.kill(fault === "kill" ? "SIGKILL" : "SIGSTOP"),
    });
    printReport(fault === "kill" ? "kill -9" : "SIGSTOP", report);
    checkReport(fault, report);
    assert.ok(caller.runtime.inbox.probesSent >= 1, "the caller probed the lost worker");
    if (fault === "kill") assert.equal((await bounded(a.status, 10_000, "exit")).signal, "SIGKILL");
  } finally {
    // A stopped process cannot stop gracefully: wake it and end it.
    a.kill("SIGCONT");
    a.kill("SIGKILL");
    await a.status;
    b.kill("SIGTERM");
    await bounded(b.status, 20_000, "the live worker stopping");
  }
}

Deno.test("chaos: a worker killed with kill -9 mid-request costs its requests under 1.5 s", async () => {
  await processFault("kill");
});

Deno.test("chaos: a worker frozen with SIGSTOP mid-request costs its requests under 1.5 s", async () => {
  await processFault("freeze");
});

Deno.test({
  name: "chaos: a worker whose host is cut off (link down, no FIN) costs its requests under 1.5 s",
  ignore: NETNS_UNAVAILABLE !== undefined && !CI,
  async fn() {
    if (NETNS_UNAVAILABLE) throw new Error(`needs network namespaces: ${NETNS_UNAVAILABLE}`);
    const natsServer = requireBinary("nats-server");
    const etcdBinary = requireBinary("etcd");
    await using net = await createTopology({ hosts: ["node1", "node2", "node3"] });
    const node1 = net.host("node1").address;
    const tmp = await Deno.makeTempDir({ prefix: "meshwork-lost-fast-" });
    const wrap = (host: string) => (command: string[]) =>
      net.wrap(host, command, { unsetEnv: ["MESH_HOSTNAME"] });
    const started: { label: string; process: MeshProcess }[] = [];
    const start = (label: string, process: MeshProcess) => {
      started.push({ label, process });
      return process;
    };
    const etcdUrl = (port: number) => `http://${node1}:${port}`;
    try {
      const nats = start(
        "nats-server",
        spawnMesh(["-a", node1, "-p", "4222"], { program: [natsServer], wrap: wrap("node1") }),
      );
      const etcd = start(
        "etcd",
        spawnMesh([
          "--name=node1",
          `--data-dir=${tmp}/etcd`,
          `--listen-client-urls=${etcdUrl(2379)}`,
          `--advertise-client-urls=${etcdUrl(2379)}`,
          `--listen-peer-urls=${etcdUrl(2380)}`,
          `--initial-advertise-peer-urls=${etcdUrl(2380)}`,
          `--initial-cluster=node1=${etcdUrl(2380)}`,
          "--initial-cluster-state=new",
          "--logger=zap",
        ], { program: [etcdBinary], wrap: wrap("node1") }),
      );
      await nats.waitForOutput(/Listening for client connections/, 20_000);
      await etcd.waitForOutput(/ready to serve client requests|serving client traffic/, 20_000);
      const env = { NATS_SERVER: `nats://${node1}:4222`, ETCD_ENDPOINTS: etcdUrl(2379) };
      start("node2 worker", spawnMesh(WORKER_ARGS, { env, wrap: wrap("node2") }));
      start("node3 worker", spawnMesh(WORKER_ARGS, { env, wrap: wrap("node3") }));
      const driverArgs = JSON.stringify({
        nats: env.NATS_SERVER,
        etcd: env.ETCD_ENDPOINTS,
        victimHost: "node2",
        fault: [requireBinary("ip"), "-n", net.host("node2").netns, "link", "set", "eth0", "down"],
      });
      const driver = start(
        "caller (driver)",
        spawnMesh([driverArgs], {
          program: [Deno.execPath(), "run", "--allow-all", DRIVER],
          wrap: wrap("node1"),
        }),
      );
      await driver.waitForOutput(/LOSS_REPORT .*\n/, 60_000);
      const line = driver.output().split("\n").find((l) => l.startsWith("LOSS_REPORT "))!;
      const report = JSON.parse(line.slice("LOSS_REPORT ".length)) as LossReport;
      printReport("partition (link down)", report);
      checkReport("partition", report);
      assert.equal((await bounded(driver.status, 20_000, "the driver exiting")).code, 0);
    } catch (error) {
      for (const { label, process } of started) {
        console.error(`----- ${label} (pid ${process.pid}) -----\n${process.output()}`);
      }
      throw error;
    } finally {
      // By PID: the cut-off worker cannot deregister, so it is killed; the others stop.
      for (const { process } of started.reverse()) {
        process.kill("SIGKILL");
        await process.status;
      }
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
