/**
 * Fault injection: etcd is restarted the ordinary way (SIGTERM, as `systemctl restart etcd` does)
 * a few times in a row, under a steady HTTP load through the hello-world gateway process and four
 * Worker processes.
 *
 * Promised (README "etcd unreachable", DESIGN.md §5): routing goes on with the last known
 * instances, nothing fails, and no process exits.
 *
 * etcd's graceful stop sends an HTTP/2 GOAWAY on every client connection. Over gRPC on Deno's
 * `node:http2` that crashed whole processes inside nghttp2 (denoland/deno#36788, open); the
 * registry therefore speaks etcd's HTTP/JSON gateway with `fetch`, and this test guards that.
 *
 * The test process itself holds no etcd connection here, so a crash takes down only a mesh process;
 * it reads etcd's own `/metrics` (plain HTTP) to know when the processes are back on a restarted
 * etcd, and waits on the load and the gateway's `/ready` and `/health`, never on fixed sleeps.
 */

import assert from "node:assert/strict";
import { startEtcd } from "../helpers/etcd_server.ts";
import { freePort } from "../helpers/free_port.ts";
import { type MeshProcess, spawnMesh } from "../helpers/mesh_process.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { untilInstances, untilReady } from "../helpers/ops_probe.ts";
import { eventually } from "../helpers/eventually.ts";
import { bounded, etcdMetric, spawnFront } from "./harness.ts";
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

const RESTARTS = 5;
const HARD_TIMEOUT_MS = 20_000;
/** The processes holding a lease (the gateway+Processor process and four Workers). */
const LEASES = 5;
/** etcd's gauge of open watchers. */
const WATCHERS = "etcd_debugging_mvcc_watcher_total";
/** etcd's counter of lease keep-alives it granted (from zero on each start). */
const RENEWALS = "etcd_debugging_lease_renewed_total";

Deno.test("chaos: etcd stopped gracefully (SIGTERM) and restarted, 5 times: mesh processes survive", async () => {
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  const env = { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
  const port = await freePort();
  await using front = spawnFront(env, port);
  // Four Workers: every process with an etcd connection is one more chance for the crash.
  await using w1 = spawnMesh(["worker"], { env: { ...env, MESH_HOSTNAME: "w1" } });
  await using w2 = spawnMesh(["worker"], { env: { ...env, MESH_HOSTNAME: "w2" } });
  await using w3 = spawnMesh(["worker"], { env: { ...env, MESH_HOSTNAME: "w3" } });
  await using w4 = spawnMesh(["worker"], { env: { ...env, MESH_HOSTNAME: "w4" } });
  const processes: [string, MeshProcess][] = [
    ["front", front],
    ["w1", w1],
    ["w2", w2],
    ["w3", w3],
    ["w4", w4],
  ];
  const exits = new Map<string, string>();
  for (const [name, process] of processes) {
    process.status.then((s) => exits.set(name, s.signal ?? `code ${s.code}`));
  }
  const stopLoad = new AbortController();
  let load: Promise<LoadResult> | undefined;
  try {
    const base = `http://127.0.0.1:${port}`;
    await untilReady(base);
    await untilInstances(base, "Worker", 4);
    // The watches in place before any restart: each restart must bring them all back.
    const watchers = (await etcdMetric(etcd.endpoint, WATCHERS)) ?? 0;
    assert.ok(watchers > 0, "the gateway process watches the Workers in etcd");
    const watch = new LoadWatch();
    load = runLoad(httpSender(`${base}/generate`), {
      loops: 4,
      stop: stopLoad.signal,
      durationMs: 60_000, // a bound in case the test fails before it stops the load
      pauseMs: 20,
      hardTimeoutMs: HARD_TIMEOUT_MS,
      label: "graceful",
      watch,
    });
    await watch.untilOk(8, "the load under way");
    let lastBackAt = 0;
    for (let i = 0; i < RESTARTS; i++) {
      const downAt = Date.now();
      await etcd.stop(); // SIGTERM: a graceful stop
      await watch.untilOk(4, `requests answered while etcd is down (restart ${i + 1})`, {
        since: downAt,
      });
      await etcd.start();
      lastBackAt = Date.now();
      // Every process is back on the new etcd: as many watches as before, and the leases renewed.
      await eventually(
        `${watchers} watches and ${LEASES} lease renewals on the restarted etcd (restart ${i + 1})`,
        async () =>
          ((await etcdMetric(etcd.endpoint, WATCHERS)) ?? 0) >= watchers &&
          ((await etcdMetric(etcd.endpoint, RENEWALS)) ?? 0) >= LEASES,
        { timeoutMs: 20_000, intervalMs: 100 },
      );
    }
    await watch.untilOk(8, "answers after the last restart", { since: Date.now() });
    stopLoad.abort();
    const result = await bounded(load, HARD_TIMEOUT_MS + 5000, "the load");
    load = undefined;

    const crashed = [...exits].map(([name, how]) => `${name}:${how}`).join(",") || "none";
    printSummary(
      summaryLine("etcd-graceful-stop", result, recoveryMs(result.records, lastBackAt), undefined, {
        restarts: RESTARTS,
        exited: crashed,
      }),
    );
    assert.equal(
      exits.size,
      0,
      `mesh processes died during graceful etcd restarts (${crashed}): Deno's node:http2 ` +
        "crashes on etcd's GOAWAY (denoland/deno#36788)",
    );
    assert.equal(result.lost, 0, describeFailures(result));
    assert.equal(result.ok, result.sent, describeFailures(result));
  } finally {
    stopLoad.abort();
    if (load) await load.catch(() => {});
  }
});
