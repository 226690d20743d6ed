/**
 * Shared queues (`runtime.queue(name)`, seed 004's prompt and response queues) on the embedded
 * planes: every item goes to one taker, answers come back to whoever put the item, by id, the end
 * stops takers once the queue is empty, and an item whose taker stops without settling it goes to
 * another taker.
 */

import assert from "node:assert/strict";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { MemoryWorkQueue } from "../../planes/memory/memory_work_queue.ts";
import { Runtime } from "../../runtime/runtime.ts";
import { MeshError } from "../../protocol/errors.ts";
import { component } from "../../actors/component.ts";
import { within } from "../helpers/eventually.ts";

async function withRuntimes(n: number, run: (runtimes: Runtime[]) => Promise<void>) {
  const bus = new MemoryBus();
  const registry = new MemoryRegistry();
  const workQueue = new MemoryWorkQueue();
  const runtimes = Array.from(
    { length: n },
    () => new Runtime({ bus, registry, workQueue, namespace: "sq" }),
  );
  try {
    await run(runtimes);
  } finally {
    for (const runtime of runtimes) await runtime.shutdown(0);
    await workQueue.close();
    await bus.close();
    await registry.close();
  }
}

Deno.test("shared queue: each item goes to one taker; answers come back by id", async () => {
  await withRuntimes(3, async ([asker, a, b]) => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await asker!.queue<{ n: number }>("jobs").put({ n: i }));
    assert.equal(await asker!.queue("jobs").depth(), 20);
    const seen: number[] = [];
    const takeAll = async (runtime: Runtime) => {
      for await (const item of runtime.queue<{ n: number }>("jobs").take()) {
        seen.push(item.value.n);
        item.send(`chunk ${item.value.n}`);
        item.reply({ doubled: item.value.n * 2 });
        item.done();
      }
    };
    const takers = [takeAll(a!), takeAll(b!)];
    const answers = await within(
      Promise.all(ids.map((id) => asker!.queue("jobs").answer<{ doubled: number }>(id))),
      "every answer",
    );
    assert.deepEqual(answers.map((x) => x.doubled), ids.map((_, i) => i * 2));
    const chunks = [];
    for await (const chunk of asker!.queue("jobs").chunks(ids[3]!)) chunks.push(chunk);
    assert.deepEqual(chunks, ["chunk 3"]);
    await asker!.queue("jobs").end();
    await within(Promise.all(takers), "takers end once the queue has ended and is empty");
    assert.deepEqual(seen.sort((x, y) => x - y), ids.map((_, i) => i));
    assert.equal(await asker!.queue("jobs").depth(), 0);
  });
});

Deno.test("shared queue: a response queue ends with its upstream queue", async () => {
  await withRuntimes(2, async ([front, worker]) => {
    const id = await front!.queue("up").put("x");
    const relay = (async () => {
      for await (const item of worker!.queue<string>("up").take()) {
        await worker!.queue("down").put(item.value + "!", { id: item.id, replyTo: item.replyTo });
        item.done();
      }
    })();
    const handed: string[] = [];
    const hand = (async () => {
      for await (const item of worker!.queue<string>("down").take({ upstream: ["up"] })) {
        handed.push(item.value);
        item.reply(item.value);
        item.done();
      }
    })();
    assert.equal(await front!.queue("up").answer(id), "x!");
    await front!.queue("up").end();
    await within(Promise.all([relay, hand]), "both takers finish");
    assert.deepEqual(handed, ["x!"]);
  });
});

Deno.test("shared queue: an item its taker stopped holding goes to another taker", async () => {
  await withRuntimes(3, async ([front, first, second]) => {
    const id = await front!.queue("work").put("job");
    const stop = new AbortController();
    for await (const item of first!.queue<string>("work").take({ signal: stop.signal })) {
      assert.equal(item.delivery, 1);
      item.retry(); // gives it back, like a worker that cannot finish it
      stop.abort();
    }
    for await (const item of second!.queue<string>("work").take({ untilEnd: false })) {
      assert.equal(item.value, "job");
      assert.ok(item.delivery >= 2, `delivery ${item.delivery}`);
      item.reply("done by the second");
      item.done();
      break;
    }
    assert.equal(await front!.queue("work").answer(id), "done by the second");
  });
});

Deno.test("shared queue: answer() of an unknown id, and a timeout, are clear errors", async () => {
  await withRuntimes(1, async ([runtime]) => {
    await assert.rejects(
      runtime!.queue("q").answer("nope"),
      (error: MeshError) => error.code === "not_found" && /nope/.test(error.message),
    );
    const id = await runtime!.queue("q").put(1);
    await assert.rejects(
      runtime!.queue("q").answer(id, { timeoutMs: 20 }),
      (error: MeshError) => error.code === "deadline_exceeded",
    );
    assert.throws(() => runtime!.queue("bad name"), /queue name/);
  });
});

Deno.test("ctx.done(): a transient instance that finishes is not restarted; the runtime says finished", async () => {
  await withRuntimes(1, async ([runtime]) => {
    let starts = 0;
    const Once = component({
      name: "Once",
      start(ctx) {
        starts++;
        queueMicrotask(() => ctx.done());
        return { generate: () => "x" };
      },
    });
    const finished = new Promise<void>((resolve) => runtime!.onFinished(resolve));
    await runtime!.serve(Once, { instances: 2, restart: "transient" });
    await within(finished, "the runtime has finished");
    assert.equal(starts, 2);
    assert.equal(runtime!.actors.length, 0);
  });
});

Deno.test("queueDepths: any process reports every work queue in use in the namespace", async () => {
  await withRuntimes(2, async ([putter, dashboard]) => {
    for (let i = 0; i < 3; i++) await putter!.queue("jobs").put(i);
    await putter!.queue("other").put("x");
    // The dashboard's process never opened these queues: the registry says they are in use.
    const depths = await dashboard!.queueDepths();
    assert.equal(depths.get("sq.q.jobs"), 3);
    assert.equal(depths.get("sq.q.other"), 1);
  });
});
