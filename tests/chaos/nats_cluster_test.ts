/**
 * Fault injection on a real 3-server NATS cluster: the server that the Worker processes are
 * connected to is killed (SIGKILL), then restarted on its ports 2 s later, under a steady HTTP
 * load of 4 loops through the gateway (the gateway and Processor in one process, the Workers in two more;
 * every process given all three NATS servers and all three etcd endpoints,
 * tests/chaos/cluster_mesh.ts).
 *
 * Promised (issue 11): every process fails over to another server by itself (nats.js, with the
 * whole list and the cluster's own, reconnecting every 250 ms); no request is lost (each gets an
 * answer or a clear error), none fails — a request sent to a Worker that is away gets "no
 * responders" at once and goes to the other Worker, and replies published while a Worker
 * reconnects are kept by the client and sent on reconnect. The one allowed error is
 * `instance_lost` (502) for a request in flight when the gateway's own connection was on the
 * killed server (nats.js picks a server at random): its reply is lost with that connection and
 * it may have been served, so it is not re-run; and `no_instances` (503) when both Workers were
 * on it and a request found neither back yet (0 of either when neither case applies);
 * no mesh process exits; requests succeed again within a second of the kill (recovery_ms).
 */

import assert from "node:assert/strict";
import { bounded, debug, sleep } from "./harness.ts";
import { startClusterMesh } from "./cluster_mesh.ts";
import {
  describeFailures,
  httpSender,
  type LoadResult,
  LoadWatch,
  printSummary,
  recoveryMs,
  runLoad,
  summaryLine,
} from "./load.ts";
import type { NatsCluster } from "../helpers/nats_cluster.ts";

const DOWN_MS = 2000;
const HARD_TIMEOUT_MS = 20_000;
/** Requests succeed again within this long of the kill. */
const RECOVERY_BOUND_MS = 5000;
/** The mailbox subjects of the hello-world Workers. */
const WORKER_SUBJECTS = "mesh.hello_world.worker.generate.";

/** The mailbox subjects of the hello-world Processor (in the gateway's process). */
const FRONT_SUBJECTS = "mesh.hello_world.processor.generate.";

/** How many connections serving `prefix` each server holds (from `/connz?subs=true`). */
async function clientsPerServer(
  cluster: NatsCluster,
  prefix = WORKER_SUBJECTS,
): Promise<number[]> {
  return await Promise.all(cluster.servers.map(async (server) => {
    try {
      const response = await fetch(
        `http://127.0.0.1:${server.monitorPort}/connz?subs=true&limit=1000`,
        { signal: AbortSignal.timeout(1000) },
      );
      const connz = await response.json() as { connections?: { subscriptions_list?: string[] }[] };
      return (connz.connections ?? []).filter((c) =>
        (c.subscriptions_list ?? []).some((s) => s.startsWith(prefix))
      ).length;
    } catch {
      return 0;
    }
  }));
}

Deno.test("chaos: NATS cluster, the Workers' server killed and restarted", async () => {
  await using mesh = await startClusterMesh();
  const stopLoad = new AbortController();
  let load: Promise<LoadResult> | undefined;
  try {
    const before = await clientsPerServer(mesh.nats);
    assert.equal(before.reduce((a, b) => a + b, 0), 2, `Worker connections: ${before}`);
    const victim = before.indexOf(Math.max(...before));
    const frontOnVictim = (await clientsPerServer(mesh.nats, FRONT_SUBJECTS))[victim] === 1;

    const watch = new LoadWatch();
    load = runLoad(httpSender(`${mesh.base}/generate`), {
      loops: 4,
      stop: stopLoad.signal,
      durationMs: 60_000, // a bound in case the test fails before it stops the load
      pauseMs: 25,
      hardTimeoutMs: HARD_TIMEOUT_MS,
      label: "nats-cluster",
      watch,
    });
    await watch.untilOk(8, "the load under way");

    const killAt = Date.now();
    await mesh.nats.kill(victim);
    await sleep(DOWN_MS); // the fault itself: the server stays away this long
    const failedOver = await clientsPerServer(mesh.nats);
    await mesh.nats.restart(victim);
    const backAt = Date.now();
    await watch.untilEndedBefore(backAt, "the requests caught in the outage ending");
    await watch.untilOk(24, "steady answers after the restart", { since: Date.now() });
    stopLoad.abort();
    const result = await bounded(load, HARD_TIMEOUT_MS + 5000, "the load");
    load = undefined;

    const recovery = recoveryMs(result.records, killAt);
    printSummary(summaryLine("nats-cluster-server-kill", result, recovery, undefined, {
      workers_on_killed: before[victim]!,
      front_on_killed: frontOnVictim ? 1 : 0,
      workers_moved: failedOver.reduce((a, b) => a + b, 0),
      down_ms: backAt - killAt,
    }));

    assert.deepEqual(mesh.exited(), [], "no mesh process exited");
    assert.equal(result.lost, 0, describeFailures(result));
    // Allowed errors, for requests caught by the kill only (at most two per load loop):
    // `instance_lost` when the gateway's own server died (the reply may have been lost with that
    // connection and the request may have been served, so it is not re-run: docs/protocol.md),
    // and `no_instances` (503 + Retry-After) when both Workers were on it and a request found
    // neither back yet.
    const allWorkersOnVictim = before[victim] === 2;
    const failed = result.records.filter((r) => r.result !== "ok");
    debug(describeFailures(result));
    for (const record of failed) {
      const allowed = (frontOnVictim && record.code === "instance_lost") ||
        (allWorkersOnVictim && record.code === "no_instances");
      assert.ok(
        allowed && record.start < killAt + DOWN_MS,
        `${record.id}: ${record.code} ${record.message}; ${describeFailures(result)}`,
      );
    }
    assert.ok(failed.length <= 8, describeFailures(result));
    assert.equal(failedOver.reduce((a, b) => a + b, 0), 2, `Workers failed over: ${failedOver}`);
    assert.ok(
      recovery !== undefined && recovery <= RECOVERY_BOUND_MS,
      `recovered ${recovery} ms after the kill; ${describeFailures(result)}`,
    );
  } finally {
    stopLoad.abort();
    if (load) await load.catch(() => {});
  }
});
