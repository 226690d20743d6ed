/**
 * The contract every {@linkcode WorkQueue} implementation passes (Hono's `common.case.test.ts`
 * pattern): a test file calls {@linkcode workQueueContract} with a factory for a fresh plane, and
 * the suite registers one `Deno.test` per behaviour.
 *
 * A plane hands out connections (`open()`, one per simulated process); the suite closes them.
 * Time matters to the ack-wait: `passTime(ms)` lets that much time go by (a `ManualClock` advance
 * on the embedded plane, a real wait on a server). Everything else waits for events, bounded by a
 * timeout that fails the test, and proves that a job was *not* handed out again with a later
 * marker job.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type DeadLetter,
  type Job,
  type QueueHandle,
  type QueueOptions,
  type WorkQueue,
  WorkQueueClosedError,
  WorkQueueFullError,
} from "../planes/work_queue.ts";
import { eventually } from "./helpers/eventually.ts";

/** A fresh plane for one test. */
export interface WorkQueuePlane {
  /** Opens another connection to the plane (as another process would). */
  open(): Promise<WorkQueue>;
  /** Lets `ms` milliseconds go by for the plane's ack-wait timers. */
  passTime(ms: number): Promise<void>;
  /** The ack-wait the suite gives its queues, in milliseconds (short on a real server). */
  readonly ackWaitMs: number;
  /** Releases the plane (after the suite has closed every connection it opened). */
  cleanup(): Promise<void>;
  /** What the plane printed (e.g. the server's log), shown when a test fails. */
  output?(): string;
}

/** Makes a fresh plane; called once per test. */
export type WorkQueuePlaneFactory = () => Promise<WorkQueuePlane>;

/** Default bound on how long a test waits for jobs, in milliseconds. */
export const WAIT_MS = 10_000;

const te = new TextEncoder();
const td = new TextDecoder();

/** Collects the jobs (and dead letters) handed to one consumer, in arrival order. */
export class JobCollector {
  /** Every job so far. */
  readonly jobs: Job[] = [];
  /** Every dead letter so far. */
  readonly letters: DeadLetter[] = [];
  #waiters: { ready: () => boolean; resolve: () => void }[] = [];

  /** The `onJob` callback; with `settle`, each job is settled at once (e.g. `(j) => j.ack()`). */
  handler(settle?: (job: Job) => void): (job: Job) => void {
    return (job) => {
      this.jobs.push(job);
      settle?.(job);
      this.#wake();
    };
  }

  /** The `onDeadLetter` callback. */
  readonly onDeadLetter = (letter: DeadLetter): void => {
    this.letters.push(letter);
    this.#wake();
  };

  /** Resolves once at least `count` jobs have arrived; fails after `timeoutMs`. */
  waitFor(count: number, label = "jobs", timeoutMs = WAIT_MS): Promise<Job[]> {
    return this.#until(() => this.jobs.length >= count, `${count} ${label}`, timeoutMs)
      .then(() => this.jobs);
  }

  /** Resolves once at least `count` dead letters have arrived; fails after `timeoutMs`. */
  waitForLetters(count: number, timeoutMs = WAIT_MS): Promise<DeadLetter[]> {
    return this.#until(() => this.letters.length >= count, `${count} dead letters`, timeoutMs)
      .then(() => this.letters);
  }

  /** The ids of the jobs, in arrival order. */
  ids(): string[] {
    return this.jobs.map((j) => j.id);
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((w) => (w.ready() ? (w.resolve(), false) : true));
  }

  async #until(ready: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (ready()) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ ready, resolve });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), timeoutMs)));
    try {
      if (await Promise.race([promise, late]) === "late") {
        throw new Error(
          `Timed out after ${timeoutMs}ms waiting for ${what}; got ${this.jobs.length} jobs ` +
            `(${this.ids().join(", ")}) and ${this.letters.length} dead letters`,
        );
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Encodes text as a payload. */
export function bytes(text: string): Uint8Array {
  return te.encode(text);
}

/** Context of one contract test. */
interface _Test {
  /** Opens a connection (closed by the suite). */
  open(): Promise<WorkQueue>;
  /** Opens a connection and the test's queue on it, with the suite's options and `extra`. */
  queue(extra?: QueueOptions): Promise<QueueHandle>;
  plane: WorkQueuePlane;
}

/**
 * Registers the work-queue contract tests under `name`; `factory` makes a fresh plane per test.
 *
 * @example
 * ```ts ignore
 * import { workQueueContract } from "./work_queue_contract.ts";
 * import { MemoryWorkQueue } from "../planes/memory/memory_work_queue.ts";
 * import { ManualClock } from "../utils/clock.ts";
 * workQueueContract("MemoryWorkQueue", () => {
 *   const clock = new ManualClock();
 *   const root = new MemoryWorkQueue({ clock });
 *   let first = true;
 *   return Promise.resolve({
 *     open: () => Promise.resolve(first ? (first = false, root) : root.connection()),
 *     passTime: (ms) => Promise.resolve(clock.advance(ms)),
 *     ackWaitMs: 1000,
 *     cleanup: () => Promise.resolve(),
 *   });
 * });
 * ```
 */
export function workQueueContract(name: string, factory: WorkQueuePlaneFactory): void {
  const test = (title: string, body: (t: _Test) => Promise<void>) => {
    Deno.test(`${name}: ${title}`, async () => {
      const plane = await factory();
      const opened: WorkQueue[] = [];
      const open = async () => {
        const wq = await plane.open();
        opened.push(wq);
        return wq;
      };
      const queue = async (extra: QueueOptions = {}) =>
        (await open()).queue("contract.jobs", { ackWaitMs: plane.ackWaitMs, ...extra });
      try {
        await body({ open, queue, plane });
      } catch (error) {
        const output = plane.output?.();
        if (output) console.error(`--- ${name} plane output ---\n${output}--- end ---`);
        throw error;
      } finally {
        await Promise.all(opened.map((wq) => wq.close()));
        await plane.cleanup();
      }
    });
  };

  test("a consumer receives a submitted job's id, payload and headers, once", async (t) => {
    const q = await t.queue();
    const payload = new Uint8Array([0, 1, 2, 250, 255, 10, 13]);
    const headers = { "Mesh-Request-Id": "req-1", "Mesh-Reply": "_INBOX.abc.1" };
    assert.deepEqual(await q.submit("req-1", payload, headers), { duplicate: false });
    const got = new JobCollector();
    q.consume({ maxInflight: 1, onJob: got.handler((j) => j.ack()) });
    const [job] = await got.waitFor(1);
    assert.equal(job!.id, "req-1");
    assert.deepEqual([...job!.data], [...payload]);
    assert.deepEqual(job!.headers, headers);
    assert.equal(job!.deliveryCount, 1);
    await eventually(
      "the acknowledged job to leave the queue",
      async () => await q.pending() === 0,
    );
  });

  test("each job goes to exactly one of several consumers", async (t) => {
    const submitter = await t.queue();
    const collectors = [new JobCollector(), new JobCollector(), new JobCollector()];
    for (const got of collectors) {
      (await t.queue()).consume({ maxInflight: 4, onJob: got.handler((j) => j.ack()) });
    }
    const n = 30;
    const ids = Array.from({ length: n }, (_, i) => `job-${i}`);
    for (const id of ids) await submitter.submit(id, bytes(id));
    await eventually(
      "every job to be handed out",
      () => collectors.reduce((sum, c) => sum + c.jobs.length, 0) >= n,
    );
    const seen = collectors.flatMap((c) => c.ids());
    assert.deepEqual([...seen].sort(), [...ids].sort(), "each job handed out exactly once");
    await eventually("the queue to empty", async () => await submitter.pending() === 0);
  });

  test("a consumer holds at most maxInflight unacknowledged jobs", async (t) => {
    const q = await t.queue();
    for (let i = 0; i < 5; i++) await q.submit(`job-${i}`, bytes(String(i)));
    const a = new JobCollector();
    q.consume({ maxInflight: 2, onJob: a.handler() });
    await a.waitFor(2);
    const b = new JobCollector();
    (await t.queue()).consume({ maxInflight: 3, onJob: b.handler() });
    await b.waitFor(3, "jobs the first consumer could not take");
    assert.equal(a.jobs.length, 2, "the first consumer took no more than maxInflight");
    assert.equal(await q.pending(), 5, "unacknowledged jobs stay in the queue");
    await q.submit("job-5", bytes("5"));
    a.jobs[0]!.ack();
    await a.waitFor(3, "a job once one was acknowledged");
    assert.equal(a.jobs[2]!.id, "job-5");
    assert.equal(b.jobs.length, 3);
  });

  test("ack() removes a job: pending() counts stored jobs not yet acknowledged", async (t) => {
    const q = await t.queue();
    assert.equal(await q.pending(), 0);
    for (const id of ["a", "b", "c"]) await q.submit(id, bytes(id));
    assert.equal(await q.pending(), 3);
    const got = new JobCollector();
    q.consume({ maxInflight: 3, onJob: got.handler() });
    await got.waitFor(3);
    assert.equal(await q.pending(), 3, "handed out but not acknowledged");
    got.jobs.find((j) => j.id === "b")!.ack();
    await eventually("pending() to drop to 2", async () => await q.pending() === 2);
    for (const job of got.jobs) job.ack();
    await eventually("pending() to drop to 0", async () => await q.pending() === 0);
  });

  test("a job not acknowledged within the ack-wait goes to another consumer with deliveryCount 2", async (t) => {
    const q = await t.queue();
    await q.submit("slow", bytes("work"), { "Mesh-Reply": "r.1" });
    const a = new JobCollector();
    q.consume({ maxInflight: 1, onJob: a.handler() });
    await a.waitFor(1);
    const b = new JobCollector();
    (await t.queue()).consume({ maxInflight: 1, onJob: b.handler((j) => j.ack()) });
    await t.plane.passTime(t.plane.ackWaitMs);
    const [again] = await b.waitFor(1, "the job handed out again");
    assert.equal(again!.id, "slow");
    assert.equal(td.decode(again!.data), "work");
    assert.deepEqual(again!.headers, { "Mesh-Reply": "r.1" });
    assert.equal(again!.deliveryCount, 2);
    assert.equal(a.jobs.length, 1);
    await eventually("the queue to empty", async () => await q.pending() === 0);
  });

  test("after maxDeliver deliveries a job goes to onDeadLetter and is not handed out again", async (t) => {
    const q = await t.queue({ maxDeliver: 2 });
    await q.submit("doomed", bytes("x"), { "Mesh-Reply": "r.9" });
    const got = new JobCollector();
    q.consume({
      maxInflight: 1,
      onJob: got.handler((j) => (j.id === "doomed" ? j.nak() : j.ack())),
      onDeadLetter: got.onDeadLetter,
    });
    const [letter] = await got.waitForLetters(1);
    assert.equal(letter!.id, "doomed");
    assert.equal(letter!.deliveries, 2);
    assert.equal(td.decode(letter!.data), "x");
    assert.deepEqual(letter!.headers, { "Mesh-Reply": "r.9" });
    assert.deepEqual(got.jobs.map((j) => [j.id, j.deliveryCount]), [["doomed", 1], ["doomed", 2]]);
    await t.plane.passTime(t.plane.ackWaitMs * 2);
    await q.submit("marker", bytes("m"));
    await got.waitFor(3, "the marker");
    assert.deepEqual(got.ids(), ["doomed", "doomed", "marker"]);
    assert.equal(got.letters.length, 1);
    await eventually("the queue to empty", async () => await q.pending() === 0);
  });

  test("term() removes a job: it is neither handed out again nor dead-lettered", async (t) => {
    const q = await t.queue({ maxDeliver: 2 });
    await q.submit("hopeless", bytes("x"));
    const got = new JobCollector();
    q.consume({
      maxInflight: 1,
      onJob: got.handler((j) => (j.id === "hopeless" ? j.term() : j.ack())),
      onDeadLetter: got.onDeadLetter,
    });
    await got.waitFor(1);
    await eventually("the terminated job to leave the queue", async () => await q.pending() === 0);
    await t.plane.passTime(t.plane.ackWaitMs * 2);
    await q.submit("marker", bytes("m"));
    await got.waitFor(2, "the marker");
    assert.deepEqual(got.ids(), ["hopeless", "marker"]);
    assert.equal(got.letters.length, 0);
  });

  test("working() keeps a job from being handed out again past the ack-wait", async (t) => {
    const q = await t.queue();
    await q.submit("long", bytes("long"));
    const a = new JobCollector();
    q.consume({ maxInflight: 1, onJob: a.handler((j) => j.id === "long" || j.ack()) });
    const [job] = await a.waitFor(1);
    const b = new JobCollector();
    (await t.queue()).consume({ maxInflight: 1, onJob: b.handler((j) => j.ack()) });
    for (let i = 0; i < 4; i++) {
      await t.plane.passTime(t.plane.ackWaitMs / 2);
      job!.working();
    }
    job!.ack();
    await q.submit("marker", bytes("m"));
    await eventually(
      "the marker to be handed out",
      () => [...a.ids(), ...b.ids()].includes("marker"),
    );
    assert.deepEqual([...a.ids(), ...b.ids()].sort(), ["long", "marker"]);
    await eventually("the queue to empty", async () => await q.pending() === 0);
  });

  test("a duplicate submit of the same id is stored once", async (t) => {
    const q = await t.queue();
    const other = await t.queue();
    assert.deepEqual(await q.submit("req-7", bytes("first")), { duplicate: false });
    assert.deepEqual(await other.submit("req-7", bytes("second")), { duplicate: true });
    assert.equal(await q.pending(), 1);
    const got = new JobCollector();
    q.consume({ maxInflight: 5, onJob: got.handler((j) => j.ack()) });
    await got.waitFor(1);
    await eventually("the queue to empty", async () => await q.pending() === 0);
    assert.deepEqual(
      await q.submit("req-7", bytes("third")),
      { duplicate: true },
      "still a duplicate after the job was acknowledged, within the window",
    );
    await q.submit("marker", bytes("m"));
    await got.waitFor(2, "the marker");
    assert.deepEqual(got.ids(), ["req-7", "marker"]);
    assert.equal(td.decode(got.jobs[0]!.data), "first");
  });

  test("jobs submitted while no consumer runs wait and go, in order, to the first that starts", async (t) => {
    const q = await t.queue();
    for (const id of ["one", "two", "three"]) await q.submit(id, bytes(id));
    assert.equal(await q.pending(), 3);
    const got = new JobCollector();
    (await t.queue()).consume({ maxInflight: 1, onJob: got.handler((j) => j.ack()) });
    await got.waitFor(3);
    assert.deepEqual(got.ids(), ["one", "two", "three"]);
    await eventually("the queue to empty", async () => await q.pending() === 0);
  });

  test("stop() of a consumer with unacknowledged jobs lets another consumer have them", async (t) => {
    const q = await t.queue();
    for (const id of ["x", "y"]) await q.submit(id, bytes(id));
    const a = new JobCollector();
    const consumer = q.consume({ maxInflight: 2, onJob: a.handler() });
    await a.waitFor(2);
    await consumer.stop();
    await consumer.stop();
    const b = new JobCollector();
    (await t.queue()).consume({ maxInflight: 2, onJob: b.handler((j) => j.ack()) });
    await t.plane.passTime(t.plane.ackWaitMs);
    await b.waitFor(2, "the stopped consumer's jobs");
    assert.deepEqual(b.jobs.map((j) => [j.id, j.deliveryCount]).sort(), [["x", 2], ["y", 2]]);
    await eventually("the queue to empty", async () => await q.pending() === 0);
  });

  test("a process that closes (or dies) holding jobs: they go to another process", async (t) => {
    const first = await t.open();
    const q = await first.queue("contract.jobs", { ackWaitMs: t.plane.ackWaitMs });
    await q.submit("held", bytes("h"));
    const a = new JobCollector();
    q.consume({ maxInflight: 1, onJob: a.handler() });
    await a.waitFor(1);
    await first.close();
    const b = new JobCollector();
    (await t.queue()).consume({ maxInflight: 1, onJob: b.handler((j) => j.ack()) });
    await t.plane.passTime(t.plane.ackWaitMs);
    const [job] = await b.waitFor(1, "the job of the closed process");
    assert.equal(job!.id, "held");
    assert.equal(job!.deliveryCount, 2);
  });

  test("a submit that would go over maxBytes is refused with WorkQueueFullError", async (t) => {
    const q = await t.queue({ maxBytes: 2048 });
    const body = new Uint8Array(200);
    let stored = 0;
    let refused: unknown;
    for (let i = 0; i < 30 && refused === undefined; i++) {
      try {
        await q.submit(`big-${i}`, body);
        stored += 1;
      } catch (error) {
        refused = error;
      }
    }
    assert.ok(refused instanceof WorkQueueFullError, `refused with ${refused}`);
    assert.match(
      refused.message,
      /^Cannot submit the job "big-\d+": the work queue "contract\.jobs" is full/,
    );
    assert.ok(stored >= 3 && stored < 11, `stored ${stored} jobs of 200 bytes in 2048`);
    assert.equal(await q.pending(), stored);
  });

  test("queue() refuses a bad name with a TypeError", async (t) => {
    const wq = await t.open();
    for (const bad of ["", "a b", "a..b", "a.*", "a.>", ".a"]) {
      await assert.rejects(wq.queue(bad), TypeError, `name "${bad}"`);
    }
  });

  test("close() is idempotent, and a closed plane refuses to be used", async (t) => {
    const wq = await t.open();
    const q = await wq.queue("contract.jobs", { ackWaitMs: t.plane.ackWaitMs });
    await Promise.all([wq.close(), wq.close()]);
    await wq.close();
    await assert.rejects(wq.queue("contract.jobs"), WorkQueueClosedError);
    await assert.rejects(q.submit("late", bytes("x")), WorkQueueClosedError);
    assert.throws(() => q.consume({ maxInflight: 1, onJob: () => {} }), WorkQueueClosedError);
  });
}
