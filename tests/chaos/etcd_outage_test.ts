/**
 * Fault injection: etcd goes away for longer than the lease TTL, then comes back — with its data
 * (a restart) or empty (data lost). Two worker nodes and a caller node (in-process Runtimes, each
 * with its own NATS connection and etcd client) on a real nats-server and etcd, under a steady
 * load of 4 loops.
 *
 * Promised (DESIGN.md §5, README "etcd unreachable"): while etcd is down, routing goes on with the
 * last known instances (no request fails); when it is back, the lease keeper of every node
 * confirms its lease or takes a new one and registers every live instance again within one TTL,
 * without restarting anything; callers' views recover, and a caller started afterwards routes.
 */

import assert from "node:assert/strict";
import { instancePrefix } from "../../protocol/names.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";
import { connectEtcdRegistry } from "../../planes/etcd/etcd_registry.ts";
import { silentLogger } from "../../utils/logger.ts";
import { eventually } from "../helpers/eventually.ts";
import {
  bounded,
  debug,
  duplicates,
  type MeshNode,
  meshNode,
  observer,
  pollRegistry,
  recorder,
  sleep,
} from "./harness.ts";
import {
  clientSender,
  describeFailures,
  during,
  type LoadResult,
  LoadWatch,
  printSummary,
  recoveryMs,
  runLoad,
  summaryLine,
} from "./load.ts";

const NS = "chaos_etcd";
const TTL_S = 2;
const TTL_MS = TTL_S * 1000;
/** How long etcd stays down: longer than the TTL. */
const DOWN_MS = TTL_MS + 1500;
const REQUEST_DEADLINE_MS = 8000;
const HARD_TIMEOUT_MS = 20_000;

/** When node `node` had its lease confirmed after `t`: a keep-alive answered, or a re-registration. */
function confirmedAfter(node: MeshNode, t: number): number | undefined {
  const alive = node.registry.alive.find((at) => at >= t);
  const reregistered = node.leaseEvents.find((e) => e.type === "reregistered" && e.t >= t)?.t;
  const times = [alive, reregistered].filter((x): x is number => x !== undefined);
  return times.length ? Math.min(...times) : undefined;
}

/** Writes 20 keys of its own as soon as etcd answers (trying every 20 ms, for at most 20 s). */
async function otherTenant(endpoint: string): Promise<void> {
  for (const giveUp = Date.now() + 20_000; Date.now() < giveUp; await sleep(20)) {
    let tenant;
    try {
      tenant = await connectEtcdRegistry({
        endpoints: endpoint,
        dialTimeoutMs: 500,
        logger: silentLogger,
      });
    } catch {
      continue;
    }
    try {
      for (let i = 0; i < 20; i++) await tenant.put(`chaos/other-tenant/${i}`, "x");
      return;
    } catch {
      // not ready yet
    } finally {
      await tenant.close();
    }
  }
  throw new Error("the other tenant could not write to etcd within 20 s");
}

async function etcdOutage(fault: "etcd-restart" | "etcd-wipe"): Promise<void> {
  const wipe = fault === "etcd-wipe";
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  const watcher = await observer(etcd.endpoint);
  const served = new Map<string, string[]>();
  const Echo = recorder("Echo", served, 10);
  const prefix = instancePrefix({ namespace: NS, component: "Echo", endpoint: "generate" });
  const nodeOptions = { namespace: NS, leaseTtlSeconds: TTL_S };
  await using w1 = await meshNode("w1", nats.url, etcd.endpoint, nodeOptions);
  await using w2 = await meshNode("w2", nats.url, etcd.endpoint, nodeOptions);
  await using caller = await meshNode("caller", nats.url, etcd.endpoint, nodeOptions);
  // With data lost, a worker that dies while etcd is away never registers again: callers must
  // drop it from their views (it would otherwise linger there for good). A Worker process.
  await using doomed = wipe
    ? spawnMesh(["worker"], {
      env: { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint, MESH_HOSTNAME: "doomed" },
    })
    : undefined;
  // The load stops (finally) before the nodes shut down (end of scope).
  const stopLoad = new AbortController();
  let load: Promise<LoadResult> | undefined;
  try {
    await w1.runtime.serve(Echo);
    await w2.runtime.serve(Echo);
    const workers = [w1, w2];
    const liveIds = () => workers.flatMap((w) => w.runtime.actors.map((a) => a.id)).sort();
    const idsBefore = liveIds();
    assert.equal(idsBefore.length, 2);
    const client = caller.runtime.client(Echo);
    await client.waitForInstances(2, { timeoutMs: 10_000 });
    const doomedView = caller.runtime.client("hello_world/Worker/generate");
    let doomedDroppedAt: number | undefined;
    if (doomed) {
      await doomedView.waitForInstances(1, { timeoutMs: 30_000 });
      caller.runtime.view({ namespace: "hello_world", component: "Worker", endpoint: "generate" })
        .onChange((change) => {
          if (change.type === "removed") doomedDroppedAt ??= Date.now();
        });
    }

    const watch = new LoadWatch();
    load = runLoad(clientSender(client, (id) => ({ id }), REQUEST_DEADLINE_MS), {
      loops: 4,
      stop: stopLoad.signal,
      durationMs: 60_000, // a bound in case the test fails before it stops the load
      pauseMs: 25,
      hardTimeoutMs: HARD_TIMEOUT_MS,
      label: fault,
      watch,
    });
    await watch.untilOk(8, "the load under way");

    const downAt = Date.now();
    debug("stopping etcd");
    // etcd crashes (SIGKILL; its data is on disk). Not SIGTERM: etcd's graceful stop sends HTTP/2
    // GOAWAY, which crashes Deno 2.9 processes holding etcd connections (denoland/deno#36788);
    // etcd_graceful_stop_test.ts covers that case on its own.
    Deno.kill(etcd.pid!, "SIGKILL");
    await etcd.stop();
    debug("etcd stopped");
    if (doomed) {
      doomed.kill("SIGKILL");
      await bounded(doomed.status, 10_000, "the doomed worker exiting");
    }
    await sleep(DOWN_MS); // the fault itself: etcd stays away longer than the lease TTL
    if (wipe) await Deno.remove(etcd.dataDir, { recursive: true });
    // With data lost, another tenant of the same etcd writes as soon as it is back: the new
    // store's revision passes the old one's before the callers' watches reconnect, so that
    // nothing but the data tells the two stores apart.
    const tenant = wipe ? otherTenant(etcd.endpoint) : undefined;
    debug("starting etcd");
    await etcd.start();
    const backAt = Date.now();
    debug("etcd started");
    await tenant;
    debug("tenant wrote");

    // Checks that measure go on when they fail, so that the summary line is printed first.
    const problems: unknown[] = [];
    const soft = async <T>(work: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await work();
      } catch (error) {
        problems.push(error);
        return undefined;
      }
    };

    // Every live instance registered again: the observer sees exactly the live instance ids...
    const allThere = (list: { instance: string }[]) =>
      JSON.stringify(list.map((i) => i.instance).sort()) === JSON.stringify(idsBefore);
    const seenAt = await soft(() =>
      pollRegistry(
        watcher,
        prefix,
        allThere,
        3 * TTL_MS,
        "every live instance registered after etcd came back",
      )
    );
    // ... and each worker's keeper had its lease confirmed (or took a new one and put every key).
    await eventually(
      "every worker's lease confirmed after etcd came back",
      () => workers.every((w) => confirmedAfter(w, backAt) !== undefined),
      { timeoutMs: 3 * TTL_MS, intervalMs: 50 },
    ).catch(() => {}); // asserted after the summary line: "every worker's lease keeper recovered"
    const times = workers.map((w) => confirmedAfter(w, backAt));
    const confirmed = times.every((t) => t !== undefined) ? times as number[] : [];
    const registeredMs = confirmed.length === 2 ? Math.max(...confirmed) - backAt : undefined;
    const seenMs = seenAt === undefined ? undefined : seenAt - backAt;

    // Not a lease coasting on etcd's restart grace: still registered more than a TTL later (this
    // span is what is checked, not a wait for something to happen).
    await sleep(TTL_MS + 500);
    await soft(() =>
      pollRegistry(watcher, prefix, allThere, 1000, "instances still registered after a TTL")
    );

    // The existing caller's view holds the live instances...
    await soft(() =>
      pollRegistry(
        watcher,
        prefix,
        () => JSON.stringify(client.instanceIds().sort()) === JSON.stringify(idsBefore),
        TTL_MS,
        `the caller's view recovered (it has ${client.instanceIds().join(",")})`,
      )
    );
    // ... and no longer holds the worker that died during the outage.
    let staleMs: number | string | undefined;
    if (doomed) {
      const dropped = () => doomedView.instanceIds().length === 0;
      await eventually("the caller dropping the dead worker", dropped, {
        timeoutMs: 2 * TTL_MS,
        intervalMs: 50,
      }).catch(() => {}); // the assertion below says what went wrong
      staleMs = doomedDroppedAt === undefined ? "never" : doomedDroppedAt - backAt;
      await soft(() =>
        Promise.resolve().then(() =>
          assert.deepEqual(
            doomedView.instanceIds(),
            [],
            "the caller still lists a worker that died while etcd was away (its view kept it)",
          )
        )
      );
    }
    // ... and a caller started only now finds and reaches them.
    let lateMs: number | undefined;
    if (wipe) {
      await using late = await meshNode("late", nats.url, etcd.endpoint, nodeOptions);
      const lateClient = late.runtime.client(Echo);
      const t = Date.now();
      await soft(async () => {
        await lateClient.waitForInstances(2, { timeoutMs: TTL_MS });
        lateMs = Date.now() - t;
        for (let i = 0; i < 10; i++) {
          const chunks = [];
          for await (const chunk of lateClient.generate({ id: `late-${i}` })) chunks.push(chunk);
          assert.equal(chunks.length, 1);
        }
      });
    }
    await watch.untilOk(8, "answers after the checks", { since: Date.now() });
    stopLoad.abort();
    const result = await bounded(load, HARD_TIMEOUT_MS + 5000, "the load");
    load = undefined;

    const dup = duplicates(served);
    const extra: Record<string, number | string> = {
      registered_ms: registeredMs ?? "never",
      seen_ms: seenMs ?? "never",
      down_ms: backAt - downAt,
      ttl_ms: TTL_MS,
    };
    if (lateMs !== undefined) extra.late_caller_ms = lateMs;
    if (staleMs !== undefined) extra.dead_dropped_ms = staleMs;
    printSummary(summaryLine(fault, result, registeredMs, dup.length, extra));
    if (problems.length > 0) throw problems[0];
    assert.equal(confirmed.length, 2, "every worker's lease keeper recovered");

    // Nothing restarted: the same instances, no supervisor restarts.
    assert.deepEqual(liveIds(), idsBefore, "no instance was restarted");
    for (const w of workers) {
      for (const s of w.runtime.supervisors) assert.deepEqual(s.stats.restarts, {}, s.name);
    }
    // No request failed, during the outage or after; none lost, none served twice.
    const inOutage = during(result.records, downAt, backAt);
    assert.ok(inOutage.length > 20, `steady load during the outage (${inOutage.length})`);
    assert.equal(inOutage.filter((r) => r.result !== "ok").length, 0, describeFailures(result));
    assert.equal(result.ok, result.sent, describeFailures(result));
    assert.equal(result.lost, 0, describeFailures(result));
    assert.deepEqual(dup, [], "requests served twice");
    for (const record of result.records) {
      assert.equal(served.get(record.id)?.length, 1, `${record.id} served once`);
    }
    // Within one TTL of etcd's return.
    assert.ok(registeredMs! <= TTL_MS, `leases confirmed ${registeredMs} ms after etcd returned`);
    assert.ok(seenMs! <= TTL_MS, `instances visible ${seenMs} ms after etcd returned`);
    assert.ok(recoveryMs(result.records, backAt) !== undefined);
  } finally {
    stopLoad.abort();
    if (load) await load.catch(() => {});
    await watcher.close();
  }
}

Deno.test("chaos: etcd restarted with its data, down longer than the lease TTL", async () => {
  await etcdOutage("etcd-restart");
});

Deno.test("chaos: etcd comes back with its data lost (wiped)", async () => {
  await etcdOutage("etcd-wipe");
});
