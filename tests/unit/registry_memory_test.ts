/**
 * The registry contract against {@linkcode MemoryRegistry} on a manual clock, plus what only an
 * in-process store can show exactly: the instant a lease expires, and history compaction.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ManualClock } from "../../utils/clock.ts";
import { silentLogger } from "../../utils/logger.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import type { WatchEvent } from "../../planes/registry.ts";
import { registryContract } from "../registry_contract.ts";

registryContract("MemoryRegistry", () => {
  const clock = new ManualClock(1_000_000);
  const registry = new MemoryRegistry({ clock, logger: silentLogger });
  return Promise.resolve({
    ttlSeconds: 2,
    open: () => Promise.resolve(registry),
    advance: (ms: number) => clock.advance(ms),
    close: () => registry.close(),
  });
});

/** Lets queued microtasks (watch deliveries) run. */
function _settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("MemoryRegistry expires a lease exactly TTL seconds after its grant", async () => {
  const clock = new ManualClock(0);
  await using registry = new MemoryRegistry({ clock });
  const lease = await registry.grantLease(10);
  await registry.put("k", "v", lease);
  clock.advance(9_999);
  assert.equal((await registry.getPrefix("k")).kvs.length, 1);
  clock.advance(1);
  assert.deepEqual((await registry.getPrefix("k")).kvs, []);
  assert.equal(await registry.keepAlive(lease), false);
  assert.equal(clock.pending, 0);
});

Deno.test("MemoryRegistry keepAlive() restarts the TTL from the renewal", async () => {
  const clock = new ManualClock(0);
  await using registry = new MemoryRegistry({ clock });
  const lease = await registry.grantLease(10);
  await registry.put("k", "v", lease);
  clock.advance(6_000);
  assert.equal(await registry.keepAlive(lease), true);
  clock.advance(9_999); // 15.999 s after the grant, 9.999 s after the renewal
  assert.equal((await registry.getPrefix("k")).kvs.length, 1);
  clock.advance(1);
  assert.deepEqual((await registry.getPrefix("k")).kvs, []);
  assert.equal(clock.pending, 0);
});

Deno.test("MemoryRegistry deletes a lease's keys in one revision, like etcd", async () => {
  const clock = new ManualClock(0);
  await using registry = new MemoryRegistry({ clock });
  const lease = await registry.grantLease(1);
  await registry.put("k/a", "1", lease);
  await registry.put("k/b", "2", lease);
  const { revision } = await registry.getPrefix("k/");
  const events: WatchEvent[] = [];
  await registry.watchPrefix("k/", revision + 1n, { onEvent: (event) => events.push(event) });
  clock.advance(1_000);
  assert.deepEqual(events, [], "watch events are never delivered synchronously");
  await _settle();
  assert.deepEqual(events, [
    { type: "delete", key: "k/a", revision: revision + 1n },
    { type: "delete", key: "k/b", revision: revision + 1n },
  ]);
  assert.equal(registry.revision, revision + 1n);
});

Deno.test("MemoryRegistry replays history to a watch from an older revision", async () => {
  await using registry = new MemoryRegistry({ clock: new ManualClock() });
  await registry.put("k/a", "1");
  await registry.put("k/b", "2");
  await registry.delete("k/a");
  const events: WatchEvent[] = [];
  await registry.watchPrefix("k/", 1n, { onEvent: (event) => events.push(event) });
  await _settle();
  assert.deepEqual(events, [
    { type: "put", key: "k/a", value: "1", revision: 2n },
    { type: "put", key: "k/b", value: "2", revision: 3n },
    { type: "delete", key: "k/a", revision: 4n },
  ]);
});

Deno.test("MemoryRegistry holds back a watch from a future revision until it comes", async () => {
  await using registry = new MemoryRegistry({ clock: new ManualClock() });
  const events: WatchEvent[] = [];
  await registry.watchPrefix("k/", 4n, { onEvent: (event) => events.push(event) });
  for (let i = 0; i < 4; i++) await registry.put(`k/${i}`, String(i)); // revisions 2..5
  await _settle();
  assert.deepEqual(events.map((event) => event.revision), [4n, 5n]);
});

Deno.test("MemoryRegistry calls onReset for a watch from a compacted revision", async () => {
  await using registry = new MemoryRegistry({ clock: new ManualClock(), historyLimit: 3 });
  for (let i = 0; i < 5; i++) await registry.put(`k/${i}`, String(i)); // revisions 2..6
  assert.equal(registry.compactedRevision, 3n);
  const resets: string[] = [];
  const stale: WatchEvent[] = [];
  await registry.watchPrefix("k/", 3n, {
    onEvent: (event) => stale.push(event),
    onReset: (reason) => resets.push(reason),
  });
  const fresh: WatchEvent[] = [];
  await registry.watchPrefix("k/", 4n, { onEvent: (event) => fresh.push(event) });
  await registry.put("k/later", "x");
  await _settle();
  assert.equal(resets.length, 1);
  assert.match(resets[0]!, /compacted/);
  assert.deepEqual(stale, [], "a reset watch delivers nothing more");
  assert.deepEqual(fresh.map((event) => event.revision), [4n, 5n, 6n, 7n]);
});

Deno.test("MemoryRegistry rejects bad TTLs and use after close()", async () => {
  const registry = new MemoryRegistry({ clock: new ManualClock() });
  await assert.rejects(registry.grantLease(0), RangeError);
  await assert.rejects(registry.grantLease(Number.NaN), RangeError);
  await registry.close();
  await registry.close();
  await assert.rejects(registry.put("k", "v"), /closed/);
});

Deno.test("MemoryRegistry expires leases on the system clock too", async () => {
  await using registry = new MemoryRegistry();
  const lease = await registry.grantLease(1);
  await registry.put("k", "v", lease);
  const { revision } = await registry.getPrefix("k");
  const deleted = Promise.withResolvers<WatchEvent>();
  await registry.watchPrefix("k", revision + 1n, { onEvent: deleted.resolve });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("No expiry within 3s")), 3_000);
  });
  const event = await Promise.race([deleted.promise, timeout]).finally(() => clearTimeout(timer));
  assert.deepEqual(event, { type: "delete", key: "k", revision: revision + 1n });
});
