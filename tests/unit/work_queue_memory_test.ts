/**
 * `MemoryWorkQueue` passes the work-queue contract, with a `ManualClock` driving the ack-wait,
 * plus what only the in-process plane promises: jobs are never handed out from inside `submit()`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { MemoryWorkQueue } from "../../planes/memory/memory_work_queue.ts";
import { ManualClock } from "../../utils/clock.ts";
import { bytes, JobCollector, workQueueContract } from "../work_queue_contract.ts";

/** Each connection is a `connection()` handle on one plane, which cleanup closes. */
workQueueContract("MemoryWorkQueue", () => {
  const clock = new ManualClock(1_000_000);
  const root = new MemoryWorkQueue({ clock });
  return Promise.resolve({
    open: () => Promise.resolve(root.connection()),
    passTime: (ms: number) => {
      clock.advance(ms);
      return Promise.resolve();
    },
    ackWaitMs: 1000,
    cleanup: () => root.close(),
  });
});

Deno.test("MemoryWorkQueue: submit() never hands a job to a consumer synchronously", async () => {
  const plane = new MemoryWorkQueue({ clock: new ManualClock() });
  try {
    const q = await plane.queue("sync.check");
    const got = new JobCollector();
    q.consume({ maxInflight: 1, onJob: got.handler((j) => j.ack()) });
    const submitted = q.submit("a", bytes("a"));
    assert.equal(got.jobs.length, 0);
    await submitted;
    await got.waitFor(1);
  } finally {
    await plane.close();
  }
});

Deno.test("MemoryWorkQueue: the duplicate window ends with the clock", async () => {
  const clock = new ManualClock();
  const plane = new MemoryWorkQueue({ clock });
  try {
    const q = await plane.queue("window", { duplicateWindowMs: 1000 });
    assert.deepEqual(await q.submit("id", bytes("1")), { duplicate: false });
    clock.advance(999);
    assert.deepEqual(await q.submit("id", bytes("2")), { duplicate: true });
    clock.advance(1);
    assert.deepEqual(await q.submit("id", bytes("3")), { duplicate: false });
    assert.equal(await q.pending(), 2);
  } finally {
    await plane.close();
  }
});

Deno.test("MemoryWorkQueue: nak(delay) hands the job out again once the delay has passed", async () => {
  const clock = new ManualClock();
  const plane = new MemoryWorkQueue({ clock });
  try {
    const q = await plane.queue("later");
    await q.submit("a", bytes("a"));
    const got = new JobCollector();
    let naked = false;
    q.consume({
      maxInflight: 1,
      onJob: got.handler((j) => (naked ? j.ack() : (naked = true, j.nak(500)))),
    });
    await got.waitFor(1);
    clock.advance(499);
    await q.submit("marker", bytes("m"));
    await got.waitFor(2, "the marker");
    clock.advance(1);
    await got.waitFor(3, "the delayed job");
    assert.deepEqual(got.jobs.map((j) => [j.id, j.deliveryCount]), [["a", 1], ["marker", 1], [
      "a",
      2,
    ]]);
  } finally {
    await plane.close();
  }
});
