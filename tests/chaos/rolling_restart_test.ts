/**
 * Fault injection: a rolling restart. The hello-world gateway and Processor run in one process
 * (`serve --only Frontend,Processor`), the Workers in two `worker` processes (10 ms of work per
 * request). Under a steady HTTP load of 10 loops (no pause: some 500 requests a second, so that
 * requests are in flight — and on their way — at every moment), each Worker in turn gets a
 * replacement, and once the replacement is registered it is sent SIGTERM.
 *
 * Promised (DESIGN.md §5): a graceful stop deregisters first, drains in-flight requests, and exits
 * 0 — so a rolling restart loses and fails nothing. (Before the fix this test came with, callers
 * cut the draining Worker's in-flight requests with `instance_lost` as soon as its key went, and
 * the Worker answered requests still arriving while it deregistered with a 503 `no_instances`.)
 */

import assert from "node:assert/strict";
import { startEtcd } from "../helpers/etcd_server.ts";
import { freePort } from "../helpers/free_port.ts";
import { type MeshProcess, spawnMesh } from "../helpers/mesh_process.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { untilInstances, untilReady } from "../helpers/ops_probe.ts";
import { bounded, HELLO_WORKERS, observer, pollRegistry, spawnFront } from "./harness.ts";
import {
  describeFailures,
  httpSender,
  type LoadResult,
  LoadWatch,
  printSummary,
  recoveryMs,
  type RequestRecord,
  runLoad,
  summaryLine,
} from "./load.ts";

const WORKERS = HELLO_WORKERS;
const HARD_TIMEOUT_MS = 20_000;

Deno.test("chaos: rolling restart of worker processes under load (SIGTERM, replacement)", async () => {
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  const watcher = await observer(etcd.endpoint);
  const env = { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
  const port = await freePort();
  await using _front = spawnFront(env, port);
  const workers: MeshProcess[] = [];
  const startWorker = (name: string) => {
    const worker = spawnMesh(["worker", "--Worker.delay_ms=10"], {
      env: { ...env, MESH_HOSTNAME: name },
    });
    workers.push(worker);
    return worker;
  };
  const stopLoad = new AbortController();
  let load: Promise<LoadResult> | undefined;
  try {
    const old = [startWorker("w1"), startWorker("w2")];
    const base = `http://127.0.0.1:${port}`;
    await untilReady(base);
    await untilInstances(base, "Worker", 2);

    const watch = new LoadWatch();
    load = runLoad(httpSender(`${base}/generate`), {
      loops: 10,
      stop: stopLoad.signal,
      durationMs: 90_000, // a bound in case the test fails before it stops the load
      pauseMs: 0,
      hardTimeoutMs: HARD_TIMEOUT_MS,
      label: "rolling",
      watch,
    });
    await watch.untilOk(10, "the load under way");

    const steps: { registerMs: number; stopMs: number; code: number | null }[] = [];
    let firstTermAt = 0;
    for (const [i, worker] of old.entries()) {
      const spawnedAt = Date.now();
      const replacement = startWorker(`w${i + 3}`);
      const registeredAt = await pollRegistry(
        watcher,
        WORKERS,
        (list) => list.some((info) => info.pid === replacement.pid),
        30_000,
        `replacement w${i + 3} registering`,
      );
      // The load reaches the replacement before the next Worker goes.
      await watch.untilOk(3, `answers from the replacement w${i + 3}`, {
        match: (record) => _generatedBy(record, `w${i + 3}`),
      });
      const termAt = Date.now();
      firstTermAt ||= termAt;
      worker.kill("SIGTERM");
      const status = await bounded(worker.status, 20_000, `w${i + 1} stopping on SIGTERM`);
      steps.push({
        registerMs: registeredAt - spawnedAt,
        stopMs: Date.now() - termAt,
        code: status.code,
      });
    }
    await watch.untilOk(10, "answers after the last Worker stopped", { since: Date.now() });
    stopLoad.abort();
    const result = await bounded(load, HARD_TIMEOUT_MS + 5000, "the load");
    load = undefined;

    // Every answer is the right one for its request.
    let wrong = 0;
    const by = new Map<string, number>();
    for (const record of result.records) {
      if (record.result !== "ok") continue;
      const body = record.body as { worker_output?: string; request_id?: string };
      const match = /^(.*)_ProcessedBy_front_GeneratedBy_(w\d)$/.exec(body.worker_output ?? "");
      if (body.request_id !== record.id || match?.[1] !== record.id) wrong++;
      else by.set(match[2]!, (by.get(match[2]!) ?? 0) + 1);
    }
    printSummary(summaryLine(
      "rolling-restart",
      result,
      Math.max(...steps.map((s) => s.stopMs)),
      undefined,
      {
        register_ms: Math.max(...steps.map((s) => s.registerMs)),
        first_ok_after_term_ms: recoveryMs(result.records, firstTermAt) ?? "never",
        served_by: [...by].sort().map(([w, n]) => `${w}:${n}`).join(","),
      },
    ));

    assert.deepEqual(steps.map((s) => s.code), [0, 0], "each SIGTERMed worker exits 0");
    assert.equal(result.lost, 0, describeFailures(result));
    assert.equal(result.ok, result.sent, describeFailures(result));
    assert.equal(wrong, 0, "answers that do not match their request");
    assert.ok(by.has("w3") && by.has("w4"), `the replacements served: ${[...by.keys()]}`);
  } finally {
    stopLoad.abort();
    if (load) await load.catch(() => {});
    await watcher.close();
    for (const worker of workers) await worker[Symbol.asyncDispose]();
  }
});

/** Whether `record` is an answer that `worker` generated. */
function _generatedBy(record: RequestRecord, worker: string): boolean {
  const body = record.body as { worker_output?: string } | undefined;
  return body?.worker_output?.endsWith(`_GeneratedBy_${worker}`) ?? false;
}
