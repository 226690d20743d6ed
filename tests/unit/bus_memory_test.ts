/**
 * `MemoryBus` passes the bus contract, plus what only the in-process plane promises: delivery is
 * never synchronous, payloads are not copied, and a publish loop cannot starve the event loop.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BusClosedError, type BusMessage } from "../../planes/bus.ts";
import { silentLogger } from "../../utils/logger.ts";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { busContract, bytes, Collector } from "../bus_contract.ts";

/** The first connection is the plane's root; the others are `connection()` handles on it. */
busContract("MemoryBus", () => {
  let root: MemoryBus | undefined;
  return Promise.resolve({
    bus: () =>
      Promise.resolve(root ? root.connection() : (root = new MemoryBus({ logger: silentLogger }))),
    cleanup: () => Promise.resolve(),
  });
});

Deno.test("MemoryBus: publish() never calls a subscriber synchronously", async () => {
  const bus = new MemoryBus();
  try {
    const events: string[] = [];
    bus.subscribe("outer", () => {
      events.push("outer start");
      bus.publish("inner", bytes("nested"));
      events.push("outer end");
    });
    bus.subscribe("inner", () => events.push("inner"));
    bus.publish("outer", bytes("x"));
    events.push("after publish");
    await bus.flush();
    assert.deepEqual(events, ["after publish", "outer start", "outer end", "inner"]);
  } finally {
    await bus.close();
  }
});

Deno.test("MemoryBus: payload and headers reach subscribers as the same objects", async () => {
  const bus = new MemoryBus();
  try {
    const got = new Collector();
    bus.subscribe("same", got.handler);
    bus.subscribe("same", got.handler);
    const data = bytes("payload");
    const headers = { "Mesh-Kind": "data" };
    bus.publish("same", data, { headers });
    const [first, second] = await got.waitFor(2);
    assert.equal(first!.data, data);
    assert.equal(first!.headers, headers);
    assert.equal(second!.data, data);
  } finally {
    await bus.close();
  }
});

Deno.test("MemoryBus: flush() resolves after every queued delivery has been made", async () => {
  const bus = new MemoryBus();
  const other = bus.connection();
  try {
    let count = 0;
    other.subscribe("count.>", () => count++);
    for (let i = 0; i < 100; i++) bus.publish(`count.${i}`, bytes(String(i)));
    assert.equal(count, 0);
    await bus.flush();
    assert.equal(count, 100);
  } finally {
    await Promise.all([bus.close(), other.close()]);
  }
});

Deno.test("MemoryBus: close() first delivers what was already queued for the handle", async () => {
  const a = new MemoryBus();
  const b = a.connection();
  try {
    const got = new Collector();
    b.subscribe("last", got.handler);
    a.publish("last", bytes("words"));
    await b.close();
    assert.deepEqual(got.texts(), ["words"]);
    assert.throws(() => b.connection(), BusClosedError);
  } finally {
    await a.close();
  }
});

Deno.test("MemoryBus: a publish loop between handlers does not starve timers", async () => {
  const a = new MemoryBus();
  const b = a.connection();
  const cap = 200_000;
  let deliveries = 0;
  let deliveriesWhenTimerFired = -1;
  const finished = Promise.withResolvers<void>();
  try {
    const bounce = (bus: MemoryBus, to: string) => (m: BusMessage) => {
      deliveries += 1;
      if (deliveriesWhenTimerFired >= 0 || deliveries >= cap) {
        finished.resolve();
        return;
      }
      bus.publish(to, m.data);
    };
    a.subscribe("ping", bounce(a, "pong"));
    b.subscribe("pong", bounce(b, "ping"));
    const timer = setTimeout(() => (deliveriesWhenTimerFired = deliveries), 0);
    a.publish("ping", bytes("ball"));
    await finished.promise;
    clearTimeout(timer);
    assert.ok(
      deliveriesWhenTimerFired >= 0 && deliveriesWhenTimerFired < cap,
      `timer fired after ${deliveriesWhenTimerFired} deliveries (cap ${cap})`,
    );
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("MemoryBus: separate instances are separate planes", async () => {
  const a = new MemoryBus();
  const b = new MemoryBus();
  try {
    const inA = new Collector();
    const inB = new Collector();
    a.subscribe("topic", inA.handler);
    b.subscribe("topic", inB.handler);
    a.publish("topic", bytes("for a"));
    await Promise.all([a.flush(), b.flush()]);
    assert.deepEqual(inA.texts(), ["for a"]);
    assert.deepEqual(inB.texts(), []);
    assert.equal(a.kind, "embedded");
    assert.equal(a.address, "in-process");
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
