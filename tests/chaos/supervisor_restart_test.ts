/**
 * Fault injection: a supervised child process is killed under load. One `serve` process runs the
 * hello-world gateway and Processor, and its two Workers as child processes
 * (`ServiceArgs.processes: true`, 10 ms of work per request); a steady HTTP load of 6 loops runs
 * while one child gets SIGKILL.
 *
 * Promised (README "A Worker is killed", DESIGN.md §4–§5): requests that had not started on the
 * killed child go to the live one (no error); the ones it was serving end with `instance_lost`
 * (502) once its heartbeats stop (4 s); the supervisor starts a new child after its backoff
 * (100 ms ± 20 % for a first restart), which registers and takes requests; `serve` stays up.
 */

import assert from "node:assert/strict";
import { startEtcd } from "../helpers/etcd_server.ts";
import { freePort } from "../helpers/free_port.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { untilInstances, untilReady } from "../helpers/ops_probe.ts";
import { bounded, HELLO_WORKERS, instancesAt, observer, pollRegistry } from "./harness.ts";
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

const WORKERS = HELLO_WORKERS;
const HARD_TIMEOUT_MS = 20_000;
/** Heartbeat timeout of the Processor's client (Runtime default) plus the scan and a margin. */
const IN_FLIGHT_DETECTION_MS = 5500;
/** First-restart backoff (at most 120 ms) plus starting a Deno process and registering. */
const RESTART_BOUND_MS = 5000;

Deno.test("chaos: a supervised worker child process is killed (SIGKILL) under load", async () => {
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  const watcher = await observer(etcd.endpoint);
  const port = await freePort();
  await using serve = spawnMesh([
    "serve",
    "--config",
    "configs/multi_worker.yaml",
    `--Frontend.port=${port}`,
    "--Frontend.request_timeout_ms=10000",
    "--Worker.ServiceArgs.processes=true",
    "--Worker.ServiceArgs.workers=2",
    "--Worker.delay_ms=10",
  ], { env: { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint } });
  const stopLoad = new AbortController();
  let load: Promise<LoadResult> | undefined;
  try {
    const base = `http://127.0.0.1:${port}`;
    await untilReady(base);
    await untilInstances(base, "Worker", 2);
    const first = new Set((await instancesAt(watcher, WORKERS))!.map((info) => info.pid));
    assert.equal(first.size, 2);
    assert.ok(!first.has(serve.pid), "the Workers run in child processes");

    const watch = new LoadWatch();
    load = runLoad(httpSender(`${base}/generate`), {
      loops: 6,
      stop: stopLoad.signal,
      durationMs: 60_000, // a bound in case the test fails before it stops the load
      pauseMs: 10,
      hardTimeoutMs: HARD_TIMEOUT_MS,
      label: "supervised",
      watch,
    });
    await watch.untilOk(12, "the load under way");
    const [victim] = first;
    const killAt = Date.now();
    Deno.kill(victim!, "SIGKILL");
    const registeredAt = await pollRegistry(
      watcher,
      WORKERS,
      (list) => list.some((info) => !first.has(info.pid)),
      RESTART_BOUND_MS + 5000,
      "a new child registering after the kill",
    );
    const restartMs = registeredAt - killAt;
    const fresh = (await instancesAt(watcher, WORKERS))!.find((info) => !first.has(info.pid))!;
    // The requests the kill caught end (by the heartbeat timeout), and the load goes on.
    await watch.untilEndedBefore(killAt, "the requests in flight at the kill ending");
    await watch.untilOk(12, "answers after the new child registered", { since: registeredAt });
    stopLoad.abort();
    const result = await bounded(load, HARD_TIMEOUT_MS + 5000, "the load");
    load = undefined;

    const inFlight = result.records.filter((r) => r.result !== "ok");
    printSummary(summaryLine("supervisor-restart", result, restartMs, undefined, {
      first_ok_after_kill_ms: recoveryMs(result.records, killAt) ?? "never",
      new_pid: fresh.pid,
    }));

    assert.equal(result.lost, 0, describeFailures(result));
    assert.equal(result.unclearError, 0, describeFailures(result));
    // Only requests the killed child was serving fail, with instance_lost, by its heartbeats.
    for (const record of inFlight) {
      assert.equal(record.code, "instance_lost", `${record.id}: ${record.message}`);
      assert.equal(record.status, 502);
      assert.ok(record.start < killAt, `${record.id} failed but started after the kill`);
      assert.ok(record.end - killAt <= IN_FLIGHT_DETECTION_MS, `${record.id} ended late`);
    }
    assert.ok(result.records.filter((r) => r.start > killAt).every((r) => r.result === "ok"));
    assert.ok(restartMs <= RESTART_BOUND_MS, `a new child registered ${restartMs} ms after`);
    // serve is still up and answering; the new child stays registered.
    const after = await httpSender(`http://127.0.0.1:${port}/generate`)(
      "after",
      AbortSignal.timeout(10_000),
    );
    assert.ok(after.ok, JSON.stringify(after));
    const live = (await instancesAt(watcher, WORKERS)) ?? [];
    assert.ok(live.some((info) => info.pid === fresh.pid), "the new child is registered");
    assert.match(serve.output(), /Child ended; restarting/);
    serve.kill("SIGTERM");
    assert.equal((await bounded(serve.status, 30_000, "serve stopping")).code, 0);
  } finally {
    stopLoad.abort();
    if (load) await load.catch(() => {});
    await watcher.close();
  }
});
