/**
 * The contract every {@linkcode DataPlane} implementation passes (the pattern of
 * `tests/bus_contract.ts`): a test file calls {@linkcode dataPlaneContract} with a factory, and
 * the suite registers one `Deno.test` per behaviour.
 *
 * A harness opens planes (`open()`): for TCP each is a separate holder on its own loopback port,
 * for the embedded plane another handle on the process's table. Every plane a harness opens reads
 * TTLs from the harness's `ManualClock`, so expiry is tested without sleeping. The suite closes
 * what it opened.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  DataNotHeldError,
  type DataPlane,
  DataPlaneClosedError,
  DataPlaneError,
  DataRefusedError,
  type Descriptor,
} from "../planes/data_plane.ts";
import type { ManualClock } from "../utils/clock.ts";
import { within } from "./helpers/eventually.ts";

/** Options a test asks of a plane. */
export interface OpenOptions {
  /** The shared data-plane secret. */
  secret?: string;
}

/** A fresh set of planes for one test. */
export interface DataPlaneHarness {
  /** Opens another plane (holder) whose TTLs run on {@linkcode DataPlaneHarness.clock}. */
  open(options?: OpenOptions): Promise<DataPlane>;
  /** The clock every opened plane reads. */
  readonly clock: ManualClock;
  /** Releases whatever the harness made, after the suite closed the planes. */
  cleanup(): Promise<void>;
}

/** Makes a fresh harness; called once per test. */
export type DataPlaneHarnessFactory = () => Promise<DataPlaneHarness>;

/** Bound on any single wait in the suite. */
const WAIT_MS = 20_000;

/** `n` bytes that differ from position to position (and from seed to seed). */
export function pattern(n: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(n);
  const words = new Uint32Array(bytes.buffer, 0, n >>> 2);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < words.length; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    words[i] = x;
  }
  for (let i = words.length * 4; i < n; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

/** True when `a` and `b` hold the same bytes (fast enough for 64 MiB). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  const n = a.length >>> 2;
  const wa = a.byteOffset % 4 === 0 ? new Uint32Array(a.buffer, a.byteOffset, n) : null;
  const wb = b.byteOffset % 4 === 0 ? new Uint32Array(b.buffer, b.byteOffset, n) : null;
  let i = 0;
  if (wa && wb) {
    for (; i < n; i++) if (wa[i] !== wb[i]) return false;
    i = n * 4;
  }
  for (; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Pulls, expecting a failure of `kind`; returns the error for further checks. */
export async function pullFails(
  plane: DataPlane,
  descriptor: Descriptor,
  kind: new (...args: never[]) => Error,
): Promise<Error> {
  const error = await within(
    plane.pull(descriptor).then(
      () => new Error("the pull succeeded"),
      (e: Error) => e,
    ),
    `a pull of "${descriptor.key.slice(0, 8)}…"`,
    WAIT_MS,
  );
  assert.ok(error instanceof kind, `expected a ${kind.name}, got ${error.name}: ${error.message}`);
  return error;
}

/** The `not held` message for a descriptor. */
export function notHeldMessage(d: Descriptor): string {
  return `Cannot pull "${
    d.key.slice(0, 8)
  }…" from ${d.holder}: not held (already pulled or expired)`;
}

/**
 * Registers the data-plane contract tests under `name`; `factory` makes a fresh harness per test.
 */
export function dataPlaneContract(name: string, factory: DataPlaneHarnessFactory): void {
  const test = (
    title: string,
    body: (open: (o?: OpenOptions) => Promise<DataPlane>, clock: ManualClock) => Promise<void>,
  ) => {
    Deno.test(`${name}: ${title}`, async () => {
      const harness = await factory();
      const opened: DataPlane[] = [];
      try {
        await body(async (options) => {
          const plane = await harness.open(options);
          opened.push(plane);
          return plane;
        }, harness.clock);
      } finally {
        await Promise.all(opened.map((plane) => plane.close()));
        await harness.cleanup();
      }
    });
  };

  test("put() then pull() elsewhere gives the same bytes: empty, small, 1 MiB, 64 MiB", async (open) => {
    const [holder, puller] = [await open(), await open()];
    for (const size of [0, 7, 1 << 20, 64 << 20]) {
      const bytes = pattern(size, size);
      const descriptor = holder.put(bytes, { meta: { dtype: "uint8", shape: [size] } });
      assert.equal(descriptor.holder, holder.address);
      assert.equal(descriptor.size, size);
      assert.match(descriptor.key, /^[0-9a-f]{32}$/);
      assert.deepEqual(descriptor.meta, { dtype: "uint8", shape: [size] });
      const got = await within(puller.pull(descriptor), `a ${size}-byte pull`, WAIT_MS);
      assert.ok(sameBytes(got, pattern(size, size)), `the ${size}-byte payload differs`);
    }
    assert.equal(holder.stats().held, 0);
  });

  test("a descriptor survives JSON, and the holder can pull its own payload", async (open) => {
    const [holder, puller] = [await open(), await open()];
    const a = JSON.parse(JSON.stringify(holder.put(pattern(1000, 3)))) as Descriptor;
    assert.ok(sameBytes(await puller.pull(a), pattern(1000, 3)));
    const b = holder.put(pattern(500, 4));
    assert.ok(sameBytes(await holder.pull(b), pattern(500, 4)));
  });

  test("a second pull of a one-pull descriptor is a clear error", async (open) => {
    const [holder, puller] = [await open(), await open()];
    const descriptor = holder.put(pattern(4096));
    await puller.pull(descriptor);
    const error = await pullFails(puller, descriptor, DataNotHeldError);
    assert.equal(error.message, notHeldMessage(descriptor));
    assert.ok(error instanceof DataPlaneError && error.holder === holder.address);
  });

  test("pulls: 2 serves exactly two pulls, each the same bytes", async (open) => {
    const [holder, p1, p2] = [await open(), await open(), await open()];
    const descriptor = holder.put(pattern(100_000, 9), { pulls: 2 });
    const first = await p1.pull(descriptor);
    first.fill(0); // a puller changing its copy does not change what the next one gets
    assert.ok(sameBytes(await p2.pull(descriptor), pattern(100_000, 9)));
    await pullFails(p1, descriptor, DataNotHeldError);
  });

  test("pulls: Infinity keeps a payload until its TTL", async (open, clock) => {
    const [holder, puller] = [await open(), await open()];
    const descriptor = holder.put(pattern(10), { pulls: Infinity, ttlMs: 5000 });
    for (let i = 0; i < 5; i++) assert.ok(sameBytes(await puller.pull(descriptor), pattern(10)));
    clock.advance(5000);
    await pullFails(puller, descriptor, DataNotHeldError);
  });

  test("the TTL frees a payload nobody pulled", async (open, clock) => {
    const [holder, puller] = [await open(), await open()];
    const descriptor = holder.put(pattern(2048), { ttlMs: 1000, pulls: 2 });
    clock.advance(999);
    assert.ok(sameBytes(await puller.pull(descriptor), pattern(2048)));
    assert.deepEqual([holder.stats().held, holder.stats().heldBytes], [1, 2048]);
    clock.advance(1);
    assert.deepEqual([holder.stats().held, holder.stats().heldBytes], [0, 0]);
    const error = await pullFails(puller, descriptor, DataNotHeldError);
    assert.equal(error.message, notHeldMessage(descriptor));
  });

  test("a forged key is a clear error and leaves real payloads alone", async (open) => {
    const [holder, puller] = [await open(), await open()];
    const real = holder.put(pattern(64));
    const forged = { ...real, key: "0".repeat(32) };
    const error = await pullFails(puller, forged, DataNotHeldError);
    assert.equal(error.message, notHeldMessage(forged));
    // Counted once: by the holder where the wire tells it (TCP), else by the asking handle.
    assert.equal(holder.stats().refusals + puller.stats().refusals, 1);
    assert.ok(sameBytes(await puller.pull(real), pattern(64)));
  });

  test("release() frees a payload before it is pulled", async (open) => {
    const [holder, puller] = [await open(), await open()];
    const descriptor = holder.put(pattern(300), { pulls: 3 });
    holder.release(descriptor.key);
    holder.release("not-a-key");
    assert.deepEqual([holder.stats().held, holder.stats().heldBytes], [0, 0]);
    await pullFails(puller, descriptor, DataNotHeldError);
  });

  test("a holder with a secret refuses a puller without it, and serves one with it", async (open) => {
    const holder = await open({ secret: "s3cret" });
    const [stranger, wrong, friend] = [
      await open(),
      await open({ secret: "guess" }),
      await open({ secret: "s3cret" }),
    ];
    const descriptor = holder.put(pattern(5000));
    for (const puller of [stranger, wrong]) {
      const error = await pullFails(puller, descriptor, DataRefusedError);
      assert.equal(
        error.message,
        `Cannot pull "${
          descriptor.key.slice(0, 8)
        }…" from ${holder.address}: refused: bad or missing data-plane credentials`,
      );
    }
    assert.equal(holder.stats().refusals, 2);
    assert.ok(sameBytes(await friend.pull(descriptor), pattern(5000)));
  });

  test("a holder that closed is a clear error naming its address", async (open) => {
    const [holder, puller] = [await open(), await open()];
    const descriptor = holder.put(pattern(100));
    await holder.close();
    const error = await pullFails(puller, descriptor, DataPlaneError);
    assert.ok(
      error.message.startsWith(
        `Cannot pull "${descriptor.key.slice(0, 8)}…" from ${holder.address}: `,
      ),
    );
    assert.throws(() => holder.put(pattern(1)), DataPlaneClosedError);
    await assert.rejects(holder.pull(descriptor), DataPlaneClosedError);
  });

  test("stats() count what was held, served, pulled and refused", async (open) => {
    const [holder, puller] = [await open(), await open()];
    const a = holder.put(pattern(1000));
    const b = holder.put(pattern(3000), { pulls: 2 });
    assert.deepEqual(holder.stats(), {
      held: 2,
      heldBytes: 4000,
      bytesServed: 0,
      bytesPulled: 0,
      pulls: 0,
      refusals: 0,
    });
    await puller.pull(a);
    await puller.pull(b);
    await puller.pull(b);
    await pullFails(puller, a, DataNotHeldError);
    assert.equal(holder.stats().refusals + puller.stats().refusals, 1);
    assert.deepEqual({ ...holder.stats(), refusals: 0 }, {
      held: 0,
      heldBytes: 0,
      bytesServed: 7000,
      bytesPulled: 0,
      pulls: 0,
      refusals: 0,
    });
    assert.deepEqual({ ...puller.stats(), refusals: 0 }, {
      held: 0,
      heldBytes: 0,
      bytesServed: 0,
      bytesPulled: 7000,
      pulls: 3,
      refusals: 0,
    });
  });

  test("concurrent pulls of different payloads from two holders each get their own bytes", async (open) => {
    const [a, b] = [await open(), await open()];
    const sizes = [1, 70_000, 300_000, 1 << 20, 2_000_003, 5, 123_456, 4 << 20];
    const puts = sizes.map((size, i) => ({
      from: i % 2 ? a : b,
      to: i % 2 ? b : a,
      size,
      seed: i + 10,
    }));
    const descriptors = puts.map((p) => p.from.put(pattern(p.size, p.seed)));
    const pulled = await within(
      Promise.all(puts.map((p, i) => p.to.pull(descriptors[i]!))),
      "eight concurrent pulls",
      WAIT_MS,
    );
    pulled.forEach((bytes, i) => {
      assert.ok(sameBytes(bytes, pattern(puts[i]!.size, puts[i]!.seed)), `payload ${i} differs`);
    });
    assert.equal(a.stats().held + b.stats().held, 0);
  });

  test("an aborted signal stops a pull and leaves the payload held", async (open) => {
    const [holder, puller] = [await open(), await open()];
    const descriptor = holder.put(pattern(10));
    const controller = new AbortController();
    controller.abort(new Error("client went away"));
    await assert.rejects(
      puller.pull(descriptor, { signal: controller.signal }),
      /client went away/,
    );
    assert.equal(holder.stats().held, 1);
  });

  test("bad arguments are TypeErrors and RangeErrors", async (open) => {
    const plane = await open();
    assert.throws(() => plane.put(pattern(1), { pulls: 0 }), RangeError);
    assert.throws(() => plane.put(pattern(1), { ttlMs: -1 }), RangeError);
    await assert.rejects(plane.pull({ holder: "", key: "k", size: 1 }), TypeError);
    await assert.rejects(plane.pull(null as unknown as Descriptor), TypeError);
  });
}
