/**
 * The mesh served from the durable work queue (`ServiceArgs.queue`, the `work_queue` policy), one
 * set of cases run on the embedded planes (`tests/unit/work_queue_mesh_test.ts`) and on a real
 * nats-server with JetStream and etcd (`tests/integration/work_queue_mesh_test.ts`). Each case
 * starts its runtimes ("processes") on a fresh cluster from `open`.
 */

import assert from "node:assert/strict";
import { component } from "../actors/component.ts";
import type { QueueServing } from "../actors/queue_serving.ts";
import { MeshError } from "../protocol/errors.ts";
import { Runtime, workQueueName } from "../runtime/runtime.ts";
import { eventually } from "./helpers/eventually.ts";

/** Runtimes on one cluster (their own connections, as separate processes would have). */
export interface QueueCluster extends AsyncDisposable {
  runtime(hostname: string): Promise<Runtime>;
}

/** A gate the handlers wait at; `open()` lets every waiting and later handler through. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Resolves when `signal` aborts (rejecting with its reason), or when `until` settles. */
function waitOrAbort(signal: AbortSignal, until: Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    until.then(resolve);
  });
}

async function collect(chunks: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

const QUICK: QueueServing = { maxInflight: 4, maxDeliver: 3, ackWaitMs: 2000 };

/** Registers the cases as `Deno.test`s named `<label>: ...`. */
export function workQueueMeshCases(
  label: string,
  open: () => Promise<QueueCluster>,
  testOptions: Partial<Deno.TestDefinition> = {},
): void {
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test({ ...testOptions, name: `${label}: ${name}`, fn } as Deno.TestDefinition);

  test("a queue-served component answers a work_queue call, and registers meta.queue", async () => {
    await using cluster = await open();
    const server = await cluster.runtime("node2");
    const caller = await cluster.runtime("node1");
    const Echo = component({
      name: "Echo",
      endpoints: { generate: (request: unknown, ctx) => ({ request, by: ctx.instanceId }) },
    });
    const [actor] = await server.serve(Echo, { queue: QUICK });
    const client = caller.client(Echo, { policy: "work_queue" });
    const deadline = Date.now() + 20_000;
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await collect(client.generate({ i }, { deadline })), [
        { request: { i }, by: actor!.id },
      ]);
    }
    await client.waitForInstances(1, { quiet: true, timeoutMs: 10_000 });
    assert.equal(client.instances()[0]!.meta.queue, true);
    // Errors travel as usual, and an id the queue already holds is refused, not left to hang.
    const Failing = component({
      name: "Failing",
      endpoints: {
        generate: () => {
          throw new MeshError("bad_request", "no thanks");
        },
      },
    });
    await server.serve(Failing, { queue: QUICK });
    const failing = caller.client(Failing, { policy: "work_queue" });
    await assert.rejects(collect(failing.generate({}, { deadline })), /no thanks/);
    const once = { deadline, requestId: "same-id" };
    await collect(client.generate({}, once));
    await assert.rejects(collect(client.generate({}, once)), /already in the work queue/);
    assert.equal(workQueueName(actor!.address("generate")), "wq.Echo.generate");
  });

  test("a request sent while no instance runs waits in the queue and is served once one starts", async () => {
    await using cluster = await open();
    const caller = await cluster.runtime("node1");
    const Late = component({
      name: "Late",
      endpoints: { generate: (request: { n: number }) => request.n * 2 },
    });
    const client = caller.client(Late, { policy: "work_queue" });
    const deadline = Date.now() + 30_000;
    const answers = Promise.all(
      [1, 2, 3].map((n) => collect(client.generate({ n }, { deadline }))),
    );
    const queue = await caller.workQueue({
      namespace: "wq",
      component: "Late",
      endpoint: "generate",
    });
    await eventually("three requests queued", async () => (await queue.pending()) === 3);
    const server = await cluster.runtime("node2");
    await server.serve(Late, { queue: QUICK });
    assert.deepEqual(await answers, [[2], [4], [6]]);
  });

  test("max_inflight bounds the handlers one instance runs at once", async () => {
    await using cluster = await open();
    const server = await cluster.runtime("node2");
    const caller = await cluster.runtime("node1");
    const release = gate();
    let running = 0;
    let most = 0;
    const Slow = component({
      name: "Slow",
      endpoints: {
        async generate(request: { n: number }, ctx) {
          running++;
          most = Math.max(most, running);
          try {
            await waitOrAbort(ctx.signal, release.opened);
            return request.n;
          } finally {
            running--;
          }
        },
      },
    });
    await server.serve(Slow, { queue: { ...QUICK, maxInflight: 2 } });
    const client = caller.client(Slow, { policy: "work_queue" });
    const deadline = Date.now() + 30_000;
    const answers = Promise.all(
      [0, 1, 2, 3, 4, 5].map((n) => collect(client.generate({ n }, { deadline }))),
    );
    await eventually("two handlers running", () => running === 2);
    const queue = await caller.workQueue({
      namespace: "wq",
      component: "Slow",
      endpoint: "generate",
    });
    assert.equal(await queue.pending(), 6); // 2 held, 4 waiting
    assert.equal(running, 2);
    release.open();
    assert.deepEqual(await answers, [[0], [1], [2], [3], [4], [5]]);
    assert.equal(most, 2);
  });

  test("a request whose instance dies goes to another instance, and the caller gets one answer", async () => {
    await using cluster = await open();
    const server = await cluster.runtime("node2");
    const caller = await cluster.runtime("node1");
    const calls: string[] = [];
    const attempts: number[] = [];
    const hang = gate();
    const Flaky = component({
      name: "Flaky",
      endpoints: {
        async generate(request: { n: number }, ctx) {
          calls.push(ctx.instanceId);
          attempts.push(ctx.attempt);
          if (calls.length === 1) await hang.opened; // the first worker "hangs", deaf to signals
          return request.n;
        },
      },
    });
    const actors = await server.serve(Flaky, {
      instances: 2,
      queue: { ...QUICK, ackWaitMs: 1000 },
    });
    const client = caller.client(Flaky, { policy: "work_queue" });
    const answer = collect(client.generate({ n: 7 }, { deadline: Date.now() + 30_000 }));
    await eventually("the first worker took it", () => calls.length === 1);
    const first = actors.find((actor) => actor.id === calls[0])!;
    first.fail(new Error("simulated crash"));
    // It stops saying "working", so after the ack-wait the queue gives the request to another
    // instance; the caller, which had the first worker's ack frame, restarts from the new one's.
    assert.deepEqual(await answer, [7]);
    assert.equal(calls.length, 2);
    assert.deepEqual(attempts, [1, 2]); // ctx.attempt is the delivery
    assert.notEqual(calls[1], calls[0]);
    hang.open();
  });

  test("a request whose instance fails while it waits is handed back at once", async () => {
    await using cluster = await open();
    const server = await cluster.runtime("node2");
    const caller = await cluster.runtime("node1");
    const calls: string[] = [];
    const never = gate();
    const Flaky = component({
      name: "Flaky2",
      endpoints: {
        async generate(request: { n: number }, ctx) {
          calls.push(ctx.instanceId);
          if (calls.length === 1) await waitOrAbort(ctx.signal, never.opened);
          return request.n;
        },
      },
    });
    // A long ack-wait: only the hand-back (nak) can make this quick.
    const actors = await server.serve(Flaky, {
      instances: 2,
      queue: { ...QUICK, ackWaitMs: 60_000 },
    });
    const client = caller.client(Flaky, { policy: "work_queue" });
    const answer = collect(client.generate({ n: 3 }, { deadline: Date.now() + 20_000 }));
    await eventually("the first worker took it", () => calls.length === 1);
    actors.find((actor) => actor.id === calls[0])!.fail(new Error("simulated failure"));
    assert.deepEqual(await answer, [3]);
    assert.equal(calls.length, 2);
  });

  test("a request that fails on max_deliver workers ends with instance_lost, not a hang", async () => {
    await using cluster = await open();
    const server = await cluster.runtime("node2");
    const caller = await cluster.runtime("node1");
    const calls: string[] = [];
    const never = gate();
    const Doomed = component({
      name: "Doomed",
      endpoints: {
        async generate(_request: unknown, ctx) {
          calls.push(ctx.instanceId);
          await waitOrAbort(ctx.signal, never.opened);
        },
      },
    });
    await server.serve(Doomed, {
      instances: 2,
      queue: { ...QUICK, maxDeliver: 2, ackWaitMs: 60_000 },
      backoff: { initialMs: 10, maxMs: 50 },
    });
    const client = caller.client(Doomed, { policy: "work_queue" });
    const answer = collect(client.generate({}, { deadline: Date.now() + 20_000 }));
    answer.catch(() => {});
    for (let k = 1; k <= 2; k++) {
      await eventually(`delivery ${k}`, () => calls.length === k);
      server.localActor(calls[k - 1]!)!.fail(new Error(`crash ${k}`));
    }
    await assert.rejects(answer, (error: MeshError) => {
      assert.equal(error.code, "instance_lost");
      assert.match(error.message, /failed on 2 workers/);
      return true;
    });
    assert.equal(calls.length, 2);
  });
}
