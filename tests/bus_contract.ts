/**
 * The contract every {@linkcode Bus} implementation passes (Hono's `common.case.test.ts`
 * pattern): a test file calls {@linkcode busContract} with a factory for a fresh plane, and the
 * suite registers one `Deno.test` per behaviour.
 *
 * A plane hands out connections (`bus()`); each test opens the ones it needs and the suite closes
 * them. A subscription is known to be in place once its own connection's `flush()` resolves (NATS
 * semantics), so tests flush the subscribing connection before another one publishes. Nothing here
 * sleeps: tests wait for messages (bounded by a timeout that fails the test), and prove that a
 * message did *not* arrive with a later marker from the same publisher (a plane preserves order
 * from one publisher to one connection).
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Bus, BusClosedError, type BusMessage, type BusStatus } from "../planes/bus.ts";

/** A fresh plane for one test. */
export interface BusPlane {
  /** Opens another connection to the plane. */
  bus(): Promise<Bus>;
  /** Releases the plane (after the suite has closed every connection it opened). */
  cleanup(): Promise<void>;
  /** What the plane printed (e.g. the server's log), shown when a test fails. */
  output?(): string;
}

/** Makes a fresh plane; called once per test. */
export type BusPlaneFactory = () => Promise<BusPlane>;

const te = new TextEncoder();
const td = new TextDecoder();
const EMPTY = new Uint8Array(0);

/** Default bound on how long a test waits for messages, in milliseconds. */
export const WAIT_MS = 5000;

/**
 * Collects the messages of one or more subscriptions, in arrival order, and lets a test wait
 * until a number of them have arrived.
 */
export class Collector {
  /** Every message so far, in arrival order. */
  readonly messages: BusMessage[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  /** The subscription callback. */
  readonly handler = (message: BusMessage): void => {
    this.messages.push(message);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.messages.length < w.count) return true;
      w.resolve();
      return false;
    });
  };

  /**
   * Resolves with the messages once at least `count` have arrived; rejects (failing the test)
   * when they have not after `timeoutMs`.
   */
  async waitFor(count: number, label = "messages", timeoutMs = WAIT_MS): Promise<BusMessage[]> {
    if (this.messages.length >= count) return this.messages;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ count, resolve });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), timeoutMs)));
    try {
      if (await Promise.race([promise, late]) === "late") {
        throw new Error(
          `Timed out after ${timeoutMs}ms waiting for ${count} ${label}; got ${this.messages.length}`,
        );
      }
    } finally {
      clearTimeout(timer);
    }
    return this.messages;
  }

  /** The payloads as text. */
  texts(): string[] {
    return this.messages.map((m) => td.decode(m.data));
  }
}

/** Encodes text as a payload. */
export function bytes(text: string): Uint8Array {
  return te.encode(text);
}

/**
 * Registers the bus contract tests under `name`; `factory` makes a fresh plane for each test.
 *
 * @example
 * ```ts
 * import { busContract } from "./bus_contract.ts";
 * import { MemoryBus } from "../planes/memory/memory_bus.ts";
 * busContract("MemoryBus", () => {
 *   const root = new MemoryBus();
 *   let first = true;
 *   return Promise.resolve({
 *     bus: () => Promise.resolve(first ? (first = false, root) : root.connection()),
 *     cleanup: () => Promise.resolve(),
 *   });
 * });
 * ```
 */
export function busContract(name: string, factory: BusPlaneFactory): void {
  const test = (title: string, body: (open: () => Promise<Bus>) => Promise<void>) => {
    Deno.test(`${name}: ${title}`, async () => {
      const plane = await factory();
      const opened: Bus[] = [];
      try {
        await body(async () => {
          const bus = await plane.bus();
          opened.push(bus);
          return bus;
        });
      } catch (error) {
        const output = plane.output?.();
        if (output) console.error(`--- ${name} plane output ---\n${output}--- end ---`);
        throw error;
      } finally {
        await Promise.all(opened.map((bus) => bus.close()));
        await plane.cleanup();
      }
    });
  };

  test("publish() delivers payload bytes and headers to an exact subscriber", async (open) => {
    const [a, b] = [await open(), await open()];
    const got = new Collector();
    b.subscribe("mesh.ns.worker.generate", got.handler);
    await b.flush();
    const payload = new Uint8Array([0, 1, 2, 250, 255, 10, 13]);
    const headers = { "Mesh-Request-Id": "req-1", "traceparent": "00-abc-def-01", "X-Empty": "" };
    a.publish("mesh.ns.worker.generate", payload, { headers });
    const [message] = await got.waitFor(1);
    assert.equal(message!.subject, "mesh.ns.worker.generate");
    assert.deepEqual([...message!.data], [...payload]);
    assert.deepEqual(message!.headers, headers);
    assert.equal(message!.reply, undefined);
    assert.notEqual(message!.noResponders, true);
  });

  test("publish() without headers, or with an empty headers object, delivers no headers", async (open) => {
    const [a, b] = [await open(), await open()];
    const got = new Collector();
    b.subscribe("plain", got.handler);
    await b.flush();
    a.publish("plain", bytes("one"));
    a.publish("plain", bytes("two"), { headers: {} });
    a.publish("plain", EMPTY);
    const messages = await got.waitFor(3);
    assert.deepEqual(got.texts(), ["one", "two", ""]);
    for (const m of messages) assert.equal(m.headers, undefined);
  });

  test("subscribe() with * matches exactly one token", async (open) => {
    const [a, b] = [await open(), await open()];
    const got = new Collector();
    b.subscribe("w.*", got.handler);
    await b.flush();
    for (const subject of ["w.a", "w.b.c", "w", "x.a", "w.z"]) a.publish(subject, bytes(subject));
    await got.waitFor(2);
    assert.deepEqual(got.messages.map((m) => m.subject), ["w.a", "w.z"]);
  });

  test("subscribe() with * in the middle matches any token there", async (open) => {
    const [a, b] = [await open(), await open()];
    const got = new Collector();
    b.subscribe("mesh.*.ctl", got.handler);
    await b.flush();
    for (const subject of ["mesh.a.ctl", "mesh.a.b.ctl", "mesh.ctl", "mesh.b.ctl"]) {
      a.publish(subject, EMPTY);
    }
    await got.waitFor(2);
    assert.deepEqual(got.messages.map((m) => m.subject), ["mesh.a.ctl", "mesh.b.ctl"]);
  });

  test("subscribe() with > matches one or more trailing tokens", async (open) => {
    const [a, b] = [await open(), await open()];
    const got = new Collector();
    b.subscribe("g.>", got.handler);
    await b.flush();
    for (const subject of ["g", "g.a", "h.a", "g.a.b.c", "g.z"]) a.publish(subject, EMPTY);
    await got.waitFor(3);
    assert.deepEqual(got.messages.map((m) => m.subject), ["g.a", "g.a.b.c", "g.z"]);
  });

  test("a queue group delivers each message to exactly one member", async (open) => {
    const [a, b, c] = [await open(), await open(), await open()];
    const n = 200;
    const seen = new Map<string, string>();
    const counts = { b: 0, c: 0 };
    const member = (who: "b" | "c") => (m: BusMessage) => {
      counts[who] += 1;
      const text = td.decode(m.data);
      assert.equal(seen.has(text), false, `message ${text} delivered twice`);
      seen.set(text, who);
    };
    b.subscribe("jobs", member("b"), { queue: "workers" });
    c.subscribe("jobs", member("c"), { queue: "workers" });
    const [doneB, doneC] = [new Collector(), new Collector()];
    b.subscribe("jobs.done", doneB.handler);
    c.subscribe("jobs.done", doneC.handler);
    await Promise.all([b.flush(), c.flush()]);
    for (let i = 0; i < n; i++) a.publish("jobs", bytes(String(i)));
    a.publish("jobs.done", EMPTY);
    await Promise.all([doneB.waitFor(1, "markers"), doneC.waitFor(1, "markers")]);
    assert.equal(counts.b + counts.c, n);
    assert.equal(seen.size, n);
    assert.ok(counts.b > 0 && counts.c > 0, `uneven split: ${JSON.stringify(counts)}`);
  });

  test("plain subscribers each get a copy alongside a queue group", async (open) => {
    const [a, b, c] = [await open(), await open(), await open()];
    const n = 50;
    const plainB = new Collector();
    const plainC = new Collector();
    const queued = new Collector();
    b.subscribe("events", plainB.handler);
    c.subscribe("events", plainC.handler);
    b.subscribe("events", queued.handler, { queue: "q" });
    c.subscribe("events", queued.handler, { queue: "q" });
    await Promise.all([b.flush(), c.flush()]);
    for (let i = 0; i < n; i++) a.publish("events", bytes(String(i)));
    await Promise.all([plainB.waitFor(n), plainC.waitFor(n), queued.waitFor(n)]);
    const expected = Array.from({ length: n }, (_, i) => String(i));
    assert.deepEqual(plainB.texts(), expected);
    assert.deepEqual(plainC.texts(), expected);
    assert.deepEqual(queued.texts().sort(), [...expected].sort());
  });

  test("a queue group spans subscriptions with different patterns", async (open) => {
    const [a, b, c] = [await open(), await open(), await open()];
    const queued = new Collector();
    b.subscribe("q.a", queued.handler, { queue: "g" });
    c.subscribe("q.*", queued.handler, { queue: "g" });
    const [doneB, doneC] = [new Collector(), new Collector()];
    b.subscribe("q.done", doneB.handler);
    c.subscribe("q.done", doneC.handler);
    await Promise.all([b.flush(), c.flush()]);
    for (let i = 0; i < 20; i++) a.publish("q.a", bytes(String(i)));
    a.publish("q.done", EMPTY);
    await Promise.all([doneB.waitFor(1, "markers"), doneC.waitFor(1, "markers")]);
    // c's "q.*" member also matches the marker; the group then delivers it to c once.
    const jobs = queued.texts().filter((t) => t !== "");
    assert.equal(jobs.length, 20);
    assert.equal(new Set(jobs).size, 20);
  });

  test("unsubscribe() stops delivery and is idempotent", async (open) => {
    const [a, b] = [await open(), await open()];
    const stopped = new Collector();
    const probe = new Collector();
    const sub = b.subscribe("u", stopped.handler);
    b.subscribe("u", probe.handler);
    await b.flush();
    a.publish("u", bytes("before"));
    await Promise.all([stopped.waitFor(1), probe.waitFor(1)]);
    sub.unsubscribe();
    sub.unsubscribe();
    await b.flush();
    a.publish("u", bytes("after"));
    await probe.waitFor(2);
    assert.deepEqual(stopped.texts(), ["before"]);
    assert.deepEqual(probe.texts(), ["before", "after"]);
  });

  test("messages from one publisher arrive in publication order", async (open) => {
    const [a, b] = [await open(), await open()];
    const n = 500;
    const got = new Collector();
    b.subscribe("order.*", got.handler);
    await b.flush();
    for (let i = 0; i < n; i++) a.publish(`order.${i % 3}`, bytes(String(i)));
    await got.waitFor(n);
    assert.deepEqual(got.texts(), Array.from({ length: n }, (_, i) => String(i)));
  });

  test("a reply subject carries answers back across two connections", async (open) => {
    const [client, server] = [await open(), await open()];
    server.subscribe("svc.echo", (m) => {
      assert.ok(m.reply, "request has a reply subject");
      server.publish(m.reply, m.data, {
        headers: {
          "Mesh-Kind": "final",
          "Mesh-Seq": "0",
          "Echo-Of": m.headers?.["Mesh-Request-Id"] ?? "",
        },
      });
    }, { queue: "echo" });
    await server.flush();
    const inbox = client.newInbox();
    const answers = new Collector();
    client.subscribe(`${inbox}.*`, answers.handler);
    await client.flush();
    client.publish("svc.echo", bytes("ping"), {
      reply: `${inbox}.7`,
      headers: { "Mesh-Request-Id": "r-7" },
    });
    const [answer] = await answers.waitFor(1);
    assert.equal(answer!.subject, `${inbox}.7`);
    assert.notEqual(answer!.noResponders, true);
    assert.equal(td.decode(answer!.data), "ping");
    assert.deepEqual(answer!.headers, { "Mesh-Kind": "final", "Mesh-Seq": "0", "Echo-Of": "r-7" });
  });

  test("subjects and reply subjects that are not ASCII arrive as sent", async (open) => {
    const [a, b] = [await open(), await open()];
    const got = new Collector();
    b.subscribe("mesh.grüße.*", got.handler);
    await b.flush();
    a.publish("mesh.grüße.東京", bytes("x"), { reply: "_INBOX.réponse.1" });
    a.publish("mesh.grüße.plain", bytes("y"), { reply: "_INBOX.ascii.2" });
    const [first, second] = await got.waitFor(2);
    assert.equal(first!.subject, "mesh.grüße.東京");
    assert.equal(first!.reply, "_INBOX.réponse.1");
    assert.equal(second!.subject, "mesh.grüße.plain");
    assert.equal(second!.reply, "_INBOX.ascii.2");
  });

  test("a message with a reply that reaches nobody yields a no-responders notice", async (open) => {
    const a = await open();
    const inbox = a.newInbox();
    const got = new Collector();
    a.subscribe(inbox, got.handler);
    await a.flush();
    a.publish("nobody.home", bytes("hello?"), { reply: inbox, headers: { "Mesh-Attempt": "1" } });
    const [notice] = await got.waitFor(1);
    assert.equal(notice!.subject, inbox);
    assert.equal(notice!.noResponders, true);
    assert.equal(notice!.data.length, 0);
  });

  test("the no-responders notice goes only to the publishing connection", async (open) => {
    const [a, c] = [await open(), await open()];
    const subject = a.newInbox();
    const mine = new Collector();
    const theirs = new Collector();
    a.subscribe(subject, mine.handler);
    c.subscribe(subject, theirs.handler);
    await Promise.all([a.flush(), c.flush()]);
    a.publish("nobody.home", EMPTY, { reply: subject });
    a.publish(subject, bytes("marker"));
    await Promise.all([mine.waitFor(2), theirs.waitFor(1, "markers")]);
    assert.equal(mine.messages[0]!.noResponders, true);
    assert.deepEqual(theirs.texts(), ["marker"]);
    assert.notEqual(theirs.messages[0]!.noResponders, true);
  });

  test("a message without a reply that reaches nobody is dropped silently", async (open) => {
    const a = await open();
    const got = new Collector();
    a.subscribe("after", got.handler);
    await a.flush();
    a.publish("nobody.home", EMPTY);
    a.publish("after", bytes("still working"));
    await got.waitFor(1);
    assert.deepEqual(got.texts(), ["still working"]);
  });

  test("a subscriber that throws does not stop delivery", async (open) => {
    const [a, b] = [await open(), await open()];
    const got = new Collector();
    b.subscribe("boom", () => {
      throw new Error("subscriber bug");
    });
    b.subscribe("boom", got.handler);
    await b.flush();
    a.publish("boom", bytes("1"));
    a.publish("boom", bytes("2"));
    await got.waitFor(2);
    assert.deepEqual(got.texts(), ["1", "2"]);
  });

  test("subscribe() rejects a malformed subject with a TypeError", async (open) => {
    const a = await open();
    for (const subject of ["", "a..b", "a.>.b", "a.b*", "a b", ".a", "a."]) {
      assert.throws(() => a.subscribe(subject, () => {}), TypeError, JSON.stringify(subject));
    }
  });

  test("publish(), subscribe() and flush() after close() throw BusClosedError", async (open) => {
    const a = await open();
    await a.close();
    assert.throws(() => a.publish("x", EMPTY), BusClosedError);
    assert.throws(() => a.subscribe("x", () => {}), BusClosedError);
    await assert.rejects(a.flush(), BusClosedError);
  });

  test("close() is idempotent and reports closed to status listeners once", async (open) => {
    const a = await open();
    const statuses: BusStatus[] = [];
    const removed: BusStatus[] = [];
    a.onStatus((s) => statuses.push(s));
    a.onStatus((s) => removed.push(s))();
    await Promise.all([a.close(), a.close()]);
    await a.close();
    assert.deepEqual(statuses, ["closed"]);
    assert.deepEqual(removed, []);
  });

  test("close() on one connection leaves the others working", async (open) => {
    const [a, b, c] = [await open(), await open(), await open()];
    const gotB = new Collector();
    const gotC = new Collector();
    b.subscribe("still", gotB.handler);
    c.subscribe("still", gotC.handler);
    await Promise.all([b.flush(), c.flush()]);
    await c.close();
    a.publish("still", bytes("here"));
    await gotB.waitFor(1);
    assert.deepEqual(gotB.texts(), ["here"]);
    assert.deepEqual(gotC.texts(), []);
  });

  test("newInbox() returns a unique _INBOX subject on every call", async (open) => {
    const [a, b] = [await open(), await open()];
    const inboxes = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      inboxes.add(a.newInbox());
      inboxes.add(b.newInbox());
    }
    assert.equal(inboxes.size, 2000);
    for (const inbox of inboxes) {
      assert.match(inbox, /^_INBOX\.[A-Za-z0-9]+$/);
    }
  });

  test("flush() resolves and kind and address describe the plane", async (open) => {
    const a = await open();
    await a.flush();
    assert.ok(a.kind === "nats" || a.kind === "embedded", a.kind);
    assert.ok(a.address.length > 0);
  });
}
