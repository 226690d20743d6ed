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
 * The test process itself holds no etcd connection here, so a crash takes down only a mesh process.
 */

import assert from "node:assert/strict";
import { startEtcd } from "../helpers/etcd_server.ts";
import { freePort } from "../helpers/free_port.ts";
import { type MeshProcess, spawnMesh } from "../helpers/mesh_process.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { bounded, sleep, spawnFront } from "./harness.ts";
import {
  describeFailures,
  httpSender,
  type LoadResult,
  printSummary,
  recoveryMs,
  runLoad,
  summaryLine,
} from "./load.ts";

const RESTARTS = 5;
const HARD_TIMEOUT_MS = 20_000;

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
    await front.waitForOutput(/Meshwork serving .*gateway on/, 30_000);
    await front.waitForOutput(/Workers are all ready/, 30_000);
    load = runLoad(httpSender(`http://127.0.0.1:${port}/generate`), {
      loops: 4,
      stop: stopLoad.signal,
      durationMs: 60_000, // a bound in case the test fails before it stops the load
      pauseMs: 20,
      hardTimeoutMs: HARD_TIMEOUT_MS,
      label: "graceful",
    });
    await sleep(1000);
    let lastBackAt = 0;
    for (let i = 0; i < RESTARTS; i++) {
      await etcd.stop(); // SIGTERM: a graceful stop
      await sleep(300);
      await etcd.start();
      lastBackAt = Date.now();
      await sleep(1700); // the keep-alives and watches settle on the new connections
    }
    await sleep(1000);
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
