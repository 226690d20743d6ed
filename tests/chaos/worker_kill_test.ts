/**
 * Fault injection: a worker PROCESS is killed with SIGKILL while it streams. Two `worker`
 * processes run a streaming component of `fixtures/stream_graph.ts` (numbered chunks, 50 ms
 * apart); a caller node (an in-process Runtime with the default heartbeat settings) keeps 4 loops
 * of streams going; one worker process is killed mid-stream.
 *
 * Promised (DESIGN.md §4): a stream that loses its instance ends with `instance_lost` once the
 * caller's probe of the quiet instance gets "no responders" (well within the heartbeat timeout,
 * 4 × 1 s, which stays the bound here) — not when the lease expires (10 s) — or, for a
 * `resumable` component, continues on the other instance from the last chunk it has: one
 * complete, gap-free, duplicate-free stream. Requests not started on the killed worker succeed.
 */

import assert from "node:assert/strict";
import { MeshError } from "../../protocol/errors.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";
import { eventually } from "../helpers/eventually.ts";
import { bounded, meshNode } from "./harness.ts";
import type { StreamChunk } from "./fixtures/stream_graph.ts";
import {
  classify,
  describeFailures,
  type LoadResult,
  LoadWatch,
  printSummary,
  runLoad,
  type Sender,
  summaryLine,
} from "./load.ts";

const GRAPH = "tests/chaos/fixtures/stream_graph.ts";
const CHUNKS = 30;
const CHUNK_MS = 50;
const REQUEST_DEADLINE_MS = 15_000;
const HARD_TIMEOUT_MS = 25_000;
/** The caller's heartbeat timeout (Runtime default: 4 × heartbeatMs of 1000 ms). */
const HEARTBEAT_TIMEOUT_MS = 4000;
/** Detection must come from the heartbeats: within their window plus the scan and a margin. */
const DETECTION_BOUND_MS = HEARTBEAT_TIMEOUT_MS + 1500;
/** The lease TTL of a worker process (the product default), which detection must beat. */
const LEASE_TTL_MS = 10_000;

/** A received chunk, with when it arrived. */
type Received = StreamChunk & { at: number };

async function workerKill(component: "Resumable" | "Plain"): Promise<void> {
  const fault = component === "Resumable" ? "worker-kill-resumable" : "worker-kill-plain";
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  const env = { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
  const args = [
    "worker",
    "--graph",
    GRAPH,
    "--component",
    component,
    `--${component}.chunk_ms=${CHUNK_MS}`,
  ];
  await using a = spawnMesh(args, { env: { ...env, MESH_HOSTNAME: "node-a" } });
  await using b = spawnMesh(args, { env: { ...env, MESH_HOSTNAME: "node-b" } });
  await using caller = await meshNode("caller", nats.url, etcd.endpoint, {
    namespace: "chaos_stream",
  });
  const client = caller.runtime.client(component);
  await bounded(client.waitForInstances(2), 30_000, "two worker processes registering");
  /** The chunks of every stream still open, by request id. */
  const open = new Map<string, Received[]>();

  const stream: Sender = async (id, signal) => {
    const chunks: Received[] = [];
    open.set(id, chunks);
    try {
      const options = { requestId: id, deadline: Date.now() + REQUEST_DEADLINE_MS, signal };
      for await (const chunk of client.generate({ id, n: CHUNKS }, options)) {
        chunks.push({ ...(chunk as StreamChunk), at: Date.now() });
      }
      return { ok: true, body: chunks };
    } catch (error) {
      const outcome = classify(error);
      // Keep what arrived: the detection time of a failed stream starts at its last chunk.
      if (!outcome.ok && error instanceof MeshError) {
        return { ...outcome, message: `${outcome.message} [after ${chunks.length} chunks]` };
      }
      return outcome;
    } finally {
      open.delete(id);
    }
  };
  const stopLoad = new AbortController();
  let load: Promise<LoadResult> | undefined;
  const watch = new LoadWatch();
  try {
    load = runLoad(stream, {
      loops: 4,
      stop: stopLoad.signal,
      durationMs: 60_000, // a bound in case the test fails before it stops the load
      pauseMs: 20,
      hardTimeoutMs: HARD_TIMEOUT_MS,
      label: fault,
      watch,
    });
    // Kill mid-stream: a stream on the victim has a few of its chunks.
    await eventually(
      "a stream part-way through on node-a",
      () => [...open.values()].some((chunks) => chunks.length >= 3 && chunks.at(-1)!.pid === a.pid),
    );
    const killAt = Date.now();
    a.kill("SIGKILL");
    const status = await bounded(a.status, 10_000, "the killed worker exiting");
    assert.equal(status.signal, "SIGKILL");
    // The streams the kill caught end (migrated or lost), and new streams go to the live worker.
    await watch.untilEndedBefore(killAt, "the streams caught by the kill ending");
    await watch.untilOk(4, "streams started after the kill", {
      since: killAt,
      timeoutMs: 30_000,
    });
    stopLoad.abort();
    const result = await bounded(load, HARD_TIMEOUT_MS + 5000, "the load");
    load = undefined;

    // Every stream that ended well is complete, gap-free and duplicate-free.
    let broken = 0;
    const migrated: { id: string; detectMs: number }[] = [];
    for (const record of result.records) {
      if (record.result !== "ok") continue;
      const chunks = record.body as Received[];
      const order = chunks.map((c) => c.i).join(",");
      if (order !== Array.from({ length: CHUNKS }, (_, i) => i).join(",")) {
        broken++;
        console.error(`${record.id}: chunks ${order}`);
        continue;
      }
      const moved = chunks.findIndex((c, i) => i > 0 && c.instance !== chunks[i - 1]!.instance);
      if (moved > 0) migrated.push({ id: record.id, detectMs: chunks[moved]!.at - killAt });
    }
    // Streams that failed: caught on the killed worker, detected by the heartbeat timeout.
    const lostStreams = result.records.filter((r) => r.result === "error");
    const detections = component === "Resumable"
      ? migrated.map((m) => m.detectMs)
      : lostStreams.map((r) => r.end - killAt);
    const detectMs = detections.length ? Math.max(...detections) : undefined;
    printSummary(summaryLine(fault, result, detectMs, broken, {
      migrated: migrated.length,
      detect_min_ms: detections.length ? Math.min(...detections) : "n/a",
    }));

    assert.equal(result.lost, 0, describeFailures(result));
    assert.equal(result.unclearError, 0, describeFailures(result));
    assert.equal(broken, 0, "streams with a gap or a duplicate chunk");
    assert.ok(detections.length > 0, "a stream was in flight on the killed worker");
    assert.ok(
      detectMs! <= DETECTION_BOUND_MS && detectMs! < LEASE_TTL_MS,
      `detected after ${detectMs} ms: the heartbeat window is ${HEARTBEAT_TIMEOUT_MS} ms`,
    );
    if (component === "Resumable") {
      assert.equal(result.ok, result.sent, describeFailures(result));
    } else {
      for (const record of lostStreams) {
        assert.equal(record.code, "instance_lost", `${record.id}: ${record.message}`);
        assert.ok(record.start < killAt, `${record.id} failed but started after the kill`);
      }
      assert.equal(result.ok + lostStreams.length, result.sent);
    }
    // Streams started after the kill all succeeded, on the live worker.
    const after = result.records.filter((r) => r.start > killAt);
    assert.ok(after.length >= 4, `streams after the kill (${after.length})`);
    assert.ok(after.every((r) => r.result === "ok"), describeFailures(result));
    // The other worker is untouched and stops cleanly.
    b.kill("SIGTERM");
    assert.equal((await bounded(b.status, 20_000, "the live worker stopping")).code, 0);
  } finally {
    stopLoad.abort();
    if (load) await load.catch(() => {});
  }
}

Deno.test("chaos: worker process killed mid-stream, resumable stream migrates", async () => {
  await workerKill("Resumable");
});

Deno.test("chaos: worker process killed mid-stream, plain stream ends with instance_lost", async () => {
  await workerKill("Plain");
});
