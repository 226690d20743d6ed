/**
 * Fault injection: nats-server stops and starts again on the same port about 2 s later, under a
 * steady load of 4 loops from a caller node to two worker nodes (in-process Runtimes, each with
 * its own NATS connection and etcd client, on a real nats-server and etcd).
 *
 * Promised: every connection reconnects by itself; a request sent during the outage either
 * succeeds (retried within its deadline) or fails with a clear error (`no_instances`,
 * `deadline_exceeded`, or `instance_lost` when its reply was lost) — it never hangs; no request that reached a handler is run twice
 * (docs/protocol.md); no runtime or instance exits; requests succeed again once NATS is back.
 */

import assert from "node:assert/strict";
import { startEtcd } from "../helpers/etcd_server.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { bounded, duplicates, meshNode, recorder, sleep } from "./harness.ts";
import {
  clientSender,
  describeFailures,
  type LoadResult,
  LoadWatch,
  printSummary,
  recoveryMs,
  runLoad,
  summaryLine,
} from "./load.ts";

const NS = "chaos_nats";
const DOWN_MS = 2000;
const LOOPS = 4;
const REQUEST_DEADLINE_MS = 8000;
const HARD_TIMEOUT_MS = 20_000;
/**
 * Errors a caller may see for a request caught in the outage. `instance_lost`: the request may
 * have reached its handler (so it must not be re-run), but no frame came back — NATS drops
 * messages published while their subscriber is not (yet) back on the server. The caller gives up
 * after the ack timeout (3 s, no frame at all; router/reply_inbox.ts) or the heartbeat timeout
 * (4 s, after an ack), with a 502 at a gateway.
 */
const ALLOWED = new Set(["no_instances", "deadline_exceeded", "instance_lost"]);
/** Requests succeed again within this long of NATS's return. */
const RECOVERY_BOUND_MS = 5000;

Deno.test("chaos: NATS restarted on the same port, down about 2 s", async () => {
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  const served = new Map<string, string[]>();
  const Echo = recorder("Echo", served, 10);
  await using w1 = await meshNode("w1", nats.url, etcd.endpoint, { namespace: NS });
  await using w2 = await meshNode("w2", nats.url, etcd.endpoint, { namespace: NS });
  await using caller = await meshNode("caller", nats.url, etcd.endpoint, { namespace: NS });
  const stopLoad = new AbortController();
  let load: Promise<LoadResult> | undefined;
  try {
    const workers = [w1, w2];
    let fatal = 0;
    for (const node of [...workers, caller]) node.runtime.onFatal(() => fatal++);
    const statuses: string[] = [];
    for (const node of [...workers, caller]) {
      node.bus.onStatus((status) => statuses.push(`${node.name}:${status}`));
    }
    await w1.runtime.serve(Echo);
    await w2.runtime.serve(Echo);
    const liveIds = () => workers.flatMap((w) => w.runtime.actors.map((a) => a.id)).sort();
    const idsBefore = liveIds();
    const client = caller.runtime.client(Echo);
    await client.waitForInstances(2, { timeoutMs: 10_000 });

    const watch = new LoadWatch();
    load = runLoad(clientSender(client, (id) => ({ id }), REQUEST_DEADLINE_MS), {
      loops: LOOPS,
      stop: stopLoad.signal,
      durationMs: 60_000, // a bound in case the test fails before it stops the load
      pauseMs: 25,
      hardTimeoutMs: HARD_TIMEOUT_MS,
      label: "nats",
      watch,
    });
    await watch.untilOk(8, "the load under way");
    const downAt = Date.now();
    await nats.stop();
    await sleep(DOWN_MS); // the fault itself: NATS stays away this long
    await nats.restart(); // the same port
    const backAt = Date.now();
    // The requests the outage caught end (answered, or a clear error by their timeouts); then the
    // load runs steadily again: at most one request per loop started before the recovery point.
    await watch.untilEndedBefore(backAt, "the requests caught in the outage ending");
    await watch.untilOk(20 + LOOPS + 5, "steady answers after NATS returned", {
      since: Date.now(),
      timeoutMs: 20_000,
    });
    stopLoad.abort();
    const result = await bounded(load, HARD_TIMEOUT_MS + 5000, "the load");
    load = undefined;

    const recovery = recoveryMs(result.records, backAt);
    const dup = duplicates(served);
    printSummary(
      summaryLine("nats-restart", result, recovery, dup.length, { down_ms: backAt - downAt }),
    );

    // Never a hang; only clear errors, and only for requests caught in the outage.
    assert.equal(result.lost, 0, describeFailures(result));
    assert.equal(result.unclearError, 0, describeFailures(result));
    for (const record of result.records) {
      if (record.result === "ok") continue;
      assert.ok(ALLOWED.has(record.code!), `${record.id}: ${record.code} ${record.message}`);
      assert.ok(record.start < backAt, `${record.id} failed but started after NATS was back`);
    }
    // Requests succeed again, within the bound, and go on succeeding.
    assert.ok(
      recovery !== undefined && recovery <= RECOVERY_BOUND_MS,
      `recovered ${recovery} ms after NATS returned; ${describeFailures(result)}`,
    );
    const after = result.records.filter((r) => r.start > backAt + recovery);
    assert.ok(after.length > 20, `steady load after recovery (${after.length})`);
    // Exactly once: a request that reached a handler was not run again.
    assert.deepEqual(
      dup,
      [],
      `requests served twice: ${
        dup.map((id) => {
          const r = result.records.find((record) => record.id === id);
          const t = (ms = 0) => `+${ms - result.startedAt}`;
          return `${id} by ${served.get(id)} (${r?.result} ${t(r?.start)}..${t(r?.end)} ms)`;
        }).join("; ")
      }; NATS back at +${backAt - result.startedAt} ms`,
    );
    // Nobody exited or restarted; every connection came back.
    assert.equal(fatal, 0);
    assert.deepEqual(liveIds(), idsBefore, "no instance was restarted");
    for (const w of workers) {
      assert.ok(w.runtime.actors.every((a) => a.running));
      for (const s of w.runtime.supervisors) assert.deepEqual(s.stats.restarts, {}, s.name);
    }
    for (const node of [...workers, caller]) {
      assert.ok(statuses.includes(`${node.name}:reconnected`), `${node.name}: ${statuses}`);
    }
  } finally {
    stopLoad.abort();
    if (load) await load.catch(() => {});
  }
});
