/**
 * The contract every {@linkcode Registry} implementation passes (Hono's `common.case.test.ts`
 * pattern): a test file calls {@linkcode registryContract} with a factory for its store, and the
 * same cases run against etcd and the in-process registry.
 *
 * Waits are for events, bounded by a timeout; the one timed wait is proving that a renewed lease
 * SURVIVES past its TTL. On a store with a manual clock, time moves instantly instead.
 *
 * @example
 * ```ts ignore
 * import { registryContract } from "../registry_contract.ts";
 * import { MemoryRegistry } from "../planes/memory/memory_registry.ts";
 * registryContract("MemoryRegistry", () => {
 *   const registry = new MemoryRegistry();
 *   return Promise.resolve({ ttlSeconds: 1, open: () => Promise.resolve(registry),
 *     close: () => registry.close() });
 * });
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Registry, RegistryWatch, WatchEvent } from "../planes/registry.ts";

/** One store for one test case, from the factory given to {@linkcode registryContract}. */
export interface RegistryHarness {
  /**
   * Opens a client on this harness's store. Every call is a new client where the store allows it
   * (etcd); an in-process store may hand out the same instance. The harness closes them all.
   */
  open(): Promise<Registry>;
  /** The lease TTL the lease cases use, in whole seconds (etcd's minimum is 2). */
  readonly ttlSeconds: number;
  /**
   * Moves the store's clock forward, when it runs on a manual clock. Without it, lease time is
   * real time: the suite waits for expiry events and, once, sleeps to prove a lease survives.
   */
  advance?(ms: number): void;
  /** The store's own log (a real server's output), printed when a case fails. */
  output?(): string;
  /** Closes every client and stops the store. */
  close(): Promise<void>;
}

/** Makes a fresh store for one test case. */
export type RegistryHarnessFactory = () => Promise<RegistryHarness>;

/** Options for {@linkcode registryContract}, passed to each `Deno.test`. */
export interface RegistryContractOptions {
  /** See `Deno.TestDefinition.sanitizeOps`. Default: true. */
  sanitizeOps?: boolean;
  /** See `Deno.TestDefinition.sanitizeResources`. Default: true. */
  sanitizeResources?: boolean;
}

/** A watch that records what it sees and lets a test await a condition on it. */
interface _Recorder {
  readonly events: WatchEvent[];
  readonly resets: string[];
  readonly watch: RegistryWatch;
  /** Resolves once `done(events)` holds; rejects after `timeoutMs` with what was seen. */
  until(what: string, done: (events: WatchEvent[]) => boolean, timeoutMs?: number): Promise<void>;
}

const WAIT_MS = 5_000;

async function _record(registry: Registry, prefix: string, from: bigint): Promise<_Recorder> {
  const events: WatchEvent[] = [];
  const resets: string[] = [];
  const waiters = new Set<() => void>();
  const watch = await registry.watchPrefix(prefix, from, {
    onEvent(event) {
      events.push(event);
      for (const check of [...waiters]) check();
    },
    onReset(reason) {
      resets.push(reason);
    },
  });
  const until = (what: string, done: (seen: WatchEvent[]) => boolean, timeoutMs = WAIT_MS) => {
    if (done(events)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!done(events)) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        const seen = events.map((event) => `${event.type} ${event.key}@${event.revision}`);
        reject(new Error(`Timed out after ${timeoutMs}ms waiting for ${what}; saw [${seen}]`));
      }, timeoutMs);
      waiters.add(check);
    });
  };
  return { events, resets, watch, until };
}

/** Events as comparable lines, without revisions. */
function _lines(events: WatchEvent[]): string[] {
  return events.map((event) =>
    event.type === "put" ? `put ${event.key}=${event.value}` : `delete ${event.key}`
  );
}

function _assertIncreasing(events: WatchEvent[], after: bigint): void {
  let last = after;
  for (const event of events) {
    assert.ok(event.revision > last, `revision ${event.revision} after ${last}`);
    last = event.revision;
  }
}

function _delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let _counter = 0;
function _prefix(): string {
  return `contract/${Date.now().toString(36)}-${++_counter}/`;
}

/**
 * Registers the registry contract as `Deno.test` cases named `<name>: ...`.
 *
 * @param name Names the implementation in test names.
 * @param factory Makes a fresh store for each case.
 * @param options Sanitizer settings for every case.
 */
export function registryContract(
  name: string,
  factory: RegistryHarnessFactory,
  options: RegistryContractOptions = {},
): void {
  const test = (title: string, fn: (harness: RegistryHarness) => Promise<void>) =>
    Deno.test({
      name: `${name}: ${title}`,
      sanitizeOps: options.sanitizeOps ?? true,
      sanitizeResources: options.sanitizeResources ?? true,
      async fn() {
        const harness = await factory();
        try {
          await fn(harness);
        } catch (error) {
          const output = harness.output?.();
          if (output) console.error(`--- ${name} store output ---\n${output}--- end ---`);
          throw error;
        } finally {
          await harness.close();
        }
      },
    });

  test("put() and getPrefix() return the keys under a prefix, sorted, with the revision", async (h) => {
    const registry = await h.open();
    const prefix = _prefix();
    const before = await registry.getPrefix(prefix);
    assert.deepEqual(before.kvs, []);
    await registry.put(`${prefix}b`, "2");
    await registry.put(`${prefix}a`, "1");
    await registry.put(`${prefix}c`, "old");
    await registry.put(`${prefix}c`, "3");
    await registry.put(`${prefix.slice(0, -1)}-sibling`, "not under the prefix");
    const snapshot = await registry.getPrefix(prefix);
    assert.deepEqual(snapshot.kvs, [
      { key: `${prefix}a`, value: "1" },
      { key: `${prefix}b`, value: "2" },
      { key: `${prefix}c`, value: "3" },
    ]);
    assert.equal(typeof snapshot.revision, "bigint");
    assert.equal(snapshot.revision, before.revision + 5n);
  });

  test("delete() removes a key, and deleting a missing key is not an error", async (h) => {
    const registry = await h.open();
    const prefix = _prefix();
    await registry.put(`${prefix}a`, "1");
    await registry.put(`${prefix}b`, "2");
    await registry.delete(`${prefix}a`);
    await registry.delete(`${prefix}never-there`);
    const snapshot = await registry.getPrefix(prefix);
    assert.deepEqual(snapshot.kvs, [{ key: `${prefix}b`, value: "2" }]);
  });

  test("a watch from snapshot revision + 1 sees every later change once, in order", async (h) => {
    const registry = await h.open();
    const prefix = _prefix();
    await registry.put(`${prefix}one`, "1");
    const snapshot = await registry.getPrefix(prefix);
    // Changes between the snapshot and the watch must not be lost.
    await registry.put(`${prefix}two`, "2");
    await registry.delete(`${prefix}one`);
    const recorder = await _record(registry, prefix, snapshot.revision + 1n);
    await registry.put(`${prefix.slice(0, -1)}-sibling`, "not under the prefix");
    await registry.put(`${prefix}three`, "3");
    await registry.put(`${prefix}two`, "2b");
    await registry.delete(`${prefix}three`);
    await registry.put(`${prefix}end`, "sentinel");
    await recorder.until("the sentinel", (seen) => seen.some((e) => e.key === `${prefix}end`));
    assert.deepEqual(_lines(recorder.events), [
      `put ${prefix}two=2`,
      `delete ${prefix}one`,
      `put ${prefix}three=3`,
      `put ${prefix}two=2b`,
      `delete ${prefix}three`,
      `put ${prefix}end=sentinel`,
    ]);
    _assertIncreasing(recorder.events, snapshot.revision);
    assert.deepEqual(recorder.resets, []);
    await recorder.watch.close();
    await recorder.watch.close();
  });

  test("revokeLease() deletes the lease's keys and a watch sees the deletes", async (h) => {
    const registry = await h.open();
    const prefix = _prefix();
    const lease = await registry.grantLease(h.ttlSeconds * 5);
    await registry.put(`${prefix}a`, "1", lease);
    await registry.put(`${prefix}b`, "2", lease);
    await registry.put(`${prefix}kept`, "no lease");
    const snapshot = await registry.getPrefix(prefix);
    const recorder = await _record(registry, prefix, snapshot.revision + 1n);
    await registry.revokeLease(lease);
    await recorder.until("two deletes", (seen) => seen.length >= 2);
    assert.deepEqual(_lines(recorder.events).sort(), [`delete ${prefix}a`, `delete ${prefix}b`]);
    assert.deepEqual((await registry.getPrefix(prefix)).kvs, [
      { key: `${prefix}kept`, value: "no lease" },
    ]);
    await registry.revokeLease(lease); // a missing lease is not an error
  });

  test("a lease that is not renewed expires and its keys are deleted", async (h) => {
    const registry = await h.open();
    const prefix = _prefix();
    const lease = await registry.grantLease(h.ttlSeconds);
    await registry.put(`${prefix}a`, "1", lease);
    await registry.put(`${prefix}b`, "2", lease);
    const snapshot = await registry.getPrefix(prefix);
    assert.equal(snapshot.kvs.length, 2);
    const recorder = await _record(registry, prefix, snapshot.revision + 1n);
    h.advance?.(h.ttlSeconds * 1000);
    // etcd checks for expired leases twice a second and revokes through raft: allow slack.
    await recorder.until(
      "the expiry deletes",
      (seen) => seen.length >= 2,
      h.ttlSeconds * 1000 + 5000,
    );
    assert.deepEqual(_lines(recorder.events).sort(), [`delete ${prefix}a`, `delete ${prefix}b`]);
    assert.deepEqual((await registry.getPrefix(prefix)).kvs, []);
    assert.equal(await registry.keepAlive(lease), false);
  });

  test("keepAlive() keeps a lease alive past its TTL", async (h) => {
    const registry = await h.open();
    const prefix = _prefix();
    const lease = await registry.grantLease(h.ttlSeconds);
    await registry.put(`${prefix}a`, "1", lease);
    const snapshot = await registry.getPrefix(prefix);
    const recorder = await _record(registry, prefix, snapshot.revision + 1n);
    // Renew every third of the TTL (as the lease keeper does) for 1.5 TTLs.
    const step = (h.ttlSeconds * 1000) / 3;
    for (let elapsed = 0; elapsed < h.ttlSeconds * 1500; elapsed += step) {
      if (h.advance) h.advance(step);
      else await _delay(step); // the one timed wait: proving the lease SURVIVES
      assert.equal(await registry.keepAlive(lease), true);
    }
    assert.deepEqual((await registry.getPrefix(prefix)).kvs, [{ key: `${prefix}a`, value: "1" }]);
    await registry.put(`${prefix}end`, "sentinel");
    await recorder.until("the sentinel", (seen) => seen.some((e) => e.key === `${prefix}end`));
    assert.deepEqual(_lines(recorder.events), [`put ${prefix}end=sentinel`]);
    await registry.revokeLease(lease);
  });

  test("keepAlive() resolves false for a revoked or unknown lease", async (h) => {
    const registry = await h.open();
    const lease = await registry.grantLease(h.ttlSeconds * 5);
    assert.equal(await registry.keepAlive(lease), true);
    await registry.revokeLease(lease);
    assert.equal(await registry.keepAlive(lease), false);
    assert.equal(await registry.keepAlive("987654321"), false);
  });

  test("put() with an unknown lease rejects and writes nothing", async (h) => {
    const registry = await h.open();
    const prefix = _prefix();
    await assert.rejects(
      registry.put(`${prefix}a`, "1", "987654321"),
      /Cannot put ".*a": lease "987654321" not found/,
    );
    const lease = await registry.grantLease(h.ttlSeconds * 5);
    await registry.revokeLease(lease);
    await assert.rejects(registry.put(`${prefix}b`, "2", lease), /not found/);
    assert.deepEqual((await registry.getPrefix(prefix)).kvs, []);
  });

  test("two clients on one store see each other's keys and changes", async (h) => {
    const first = await h.open();
    const second = await h.open();
    const prefix = _prefix();
    const lease = await first.grantLease(h.ttlSeconds * 5);
    await first.put(`${prefix}first`, "1", lease);
    const snapshot = await second.getPrefix(prefix);
    assert.deepEqual(snapshot.kvs, [{ key: `${prefix}first`, value: "1" }]);
    const recorder = await _record(second, prefix, snapshot.revision + 1n);
    await first.put(`${prefix}more`, "2");
    await second.keepAlive(lease).then((alive) => assert.equal(alive, true));
    await second.revokeLease(lease);
    await recorder.until("two changes", (seen) => seen.length >= 2);
    assert.deepEqual(_lines(recorder.events), [`put ${prefix}more=2`, `delete ${prefix}first`]);
    assert.deepEqual((await first.getPrefix(prefix)).kvs, [{ key: `${prefix}more`, value: "2" }]);
  });
}
