/**
 * Chunks that a handler produces faster than they go out travel together over the bus: in order,
 * complete, in far fewer messages than chunks; a chunk that takes time still goes out at once.
 */

import assert from "node:assert/strict";
import { component } from "../../actors/component.ts";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { decodeFrame } from "../../protocol/wire.ts";
import { Runtime } from "../../runtime/runtime.ts";

const Counter = component({
  name: "Counter",
  endpoints: {
    async *generate(request: { n: number; slowAt?: number }) {
      for (let i = 0; i < request.n; i++) {
        if (i === request.slowAt) await new Promise((resolve) => setTimeout(resolve, 20));
        yield { i };
      }
    },
  },
});

async function setup() {
  const bus = new MemoryBus();
  const registry = new MemoryRegistry();
  const server = new Runtime({ bus, registry, namespace: "batch", hostname: "server" });
  const caller = new Runtime({
    bus: bus.connection(),
    registry,
    namespace: "batch",
    hostname: "c",
  });
  await server.serve(Counter);
  const frames: string[] = [];
  // A tap on every reply subject: what crossed the bus, frame by frame.
  const tap = bus.connection();
  tap.subscribe("_INBOX.>", (message) => {
    const frame = decodeFrame(message);
    if (frame) frames.push(frame.kind);
  });
  const client = caller.client(Counter);
  await client.waitForInstances(1, { quiet: true });
  return {
    client,
    frames,
    async [Symbol.asyncDispose]() {
      await caller.shutdown(100);
      await server.shutdown(100);
      await tap.close();
      await caller.bus.close();
      await bus.close();
      await registry.close();
    },
  };
}

Deno.test("a fast stream of 5000 chunks arrives whole and in order, in batches of at most 256", async () => {
  await using s = await setup();
  const received: number[] = [];
  for await (const chunk of s.client.generate({ n: 5000 })) {
    received.push((chunk as { i: number }).i);
  }
  assert.deepEqual(received, Array.from({ length: 5000 }, (_, i) => i));
  assert.ok(s.frames.length <= 40, `${s.frames.length} frames for 5000 chunks`);
  assert.ok(
    s.frames.length >= Math.ceil(5000 / 256),
    `${s.frames.length} frames: a batch over 256`,
  );
  assert.equal(s.frames.at(-1), "batch_end");
  assert.ok(s.frames.slice(0, -1).every((kind) => kind === "batch"), s.frames.join());
});

Deno.test("a chunk that takes time is not held back: the ready ones go out before it", async () => {
  await using s = await setup();
  const stream = s.client.generate({ n: 10, slowAt: 5 })[Symbol.asyncIterator]();
  const firstFive: number[] = [];
  for (let i = 0; i < 5; i++) firstFive.push(((await stream.next()).value as { i: number }).i);
  // The first five came in one batch while the handler was still waiting before the sixth.
  assert.deepEqual(firstFive, [0, 1, 2, 3, 4]);
  assert.deepEqual(s.frames, ["batch"]);
  const rest: number[] = [];
  for (;;) {
    const step = await stream.next();
    if (step.done) break;
    rest.push((step.value as { i: number }).i);
  }
  assert.deepEqual(rest, [5, 6, 7, 8, 9]);
  assert.deepEqual(s.frames, ["batch", "batch_end"]);
});
