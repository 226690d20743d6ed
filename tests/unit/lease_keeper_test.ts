import assert from "node:assert/strict";
import { ManualClock } from "../../utils/clock.ts";
import { type LeaseEvent, LeaseKeeper } from "../../runtime/lease_keeper.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import type { Registry } from "../../planes/registry.ts";

const KEY = "mesh/t/instances/Worker/generate/abc";

async function keys(registry: Registry): Promise<string[]> {
  return (await registry.getPrefix("mesh/")).kvs.map((kv) => kv.key);
}

/** A registry whose keep-alives fail while `down` is set, like an unreachable etcd. */
function flaky(inner: MemoryRegistry) {
  const state = { down: false };
  const registry: Registry = {
    kind: inner.kind,
    address: inner.address,
    grantLease: (ttl) => inner.grantLease(ttl),
    keepAlive: (lease) =>
      state.down ? Promise.reject(new Error("unreachable")) : inner.keepAlive(lease),
    revokeLease: (lease) => inner.revokeLease(lease),
    put: (key, value, lease) => inner.put(key, value, lease),
    delete: (key) => inner.delete(key),
    getPrefix: (prefix) => inner.getPrefix(prefix),
    watchPrefix: (prefix, from, handlers) => inner.watchPrefix(prefix, from, handlers),
    close: () => inner.close(),
  };
  return { registry, state };
}

Deno.test("LeaseKeeper renews at a third of the TTL, so its keys outlive many TTLs", async () => {
  const clock = new ManualClock(0);
  const registry = new MemoryRegistry({ clock });
  const keeper = new LeaseKeeper(registry, { ttlSeconds: 9, clock });
  await keeper.register(KEY, "{}");
  for (let i = 0; i < 10; i++) {
    clock.advance(3000);
    await keeper.renew();
  }
  assert.deepEqual(await keys(registry), [KEY]);
  await keeper.stop();
  await registry.close();
});

Deno.test("LeaseKeeper takes a new lease and registers every key again when the lease is lost", async () => {
  const clock = new ManualClock(0);
  const registry = new MemoryRegistry({ clock });
  const keeper = new LeaseKeeper(registry, { ttlSeconds: 9, clock });
  const events: LeaseEvent["type"][] = [];
  keeper.on((event) => events.push(event.type));
  await keeper.register(KEY, "{}");
  await keeper.register(`${KEY}2`, "{}");
  const first = keeper.lease!;
  await registry.revokeLease(first); // etcd lost it: the keys went with it
  assert.deepEqual(await keys(registry), []);
  clock.advance(3000);
  await keeper.renew();
  assert.notEqual(keeper.lease, first);
  assert.deepEqual(await keys(registry), [KEY, `${KEY}2`]);
  assert.deepEqual(events, ["granted", "lost", "granted", "reregistered"]);
  await keeper.stop();
  await registry.close();
});

Deno.test("LeaseKeeper rides out an unreachable registry and re-registers when it returns", async () => {
  const clock = new ManualClock(0);
  const inner = new MemoryRegistry({ clock });
  const { registry, state } = flaky(inner);
  const keeper = new LeaseKeeper(registry, { ttlSeconds: 10, clock });
  const events: LeaseEvent["type"][] = [];
  keeper.on((event) => events.push(event.type));
  await keeper.register(KEY, "{}");
  state.down = true;
  // Down for longer than the TTL: the lease expires meanwhile.
  for (let t = 0; t < 15_000; t += 1000) {
    clock.advance(1000);
    await keeper.renew();
  }
  assert.deepEqual(await keys(inner), []);
  state.down = false;
  // While unreachable it retries every TTL/10, so it is back within a second of the registry.
  clock.advance(1000);
  await keeper.renew();
  assert.deepEqual(await keys(inner), [KEY]);
  assert.ok(events.includes("unreachable") && events.at(-1) === "reregistered", events.join());
  await keeper.stop();
  await inner.close();
});

Deno.test("LeaseKeeper.stop() revokes the lease, taking every key with it", async () => {
  const clock = new ManualClock(0);
  const registry = new MemoryRegistry({ clock });
  const keeper = new LeaseKeeper(registry, { ttlSeconds: 10, clock });
  await keeper.register(KEY, "{}");
  await keeper.stop();
  assert.deepEqual(await keys(registry), []);
  assert.equal(clock.pending, 0);
  await registry.close();
});

Deno.test("LeaseKeeper rejects a TTL under one second", () => {
  assert.throws(
    () => new LeaseKeeper(new MemoryRegistry(), { ttlSeconds: 0.5 }),
    RangeError,
  );
});

Deno.test("LeaseKeeper finishes a re-registration that failed part-way at the next renewal", async () => {
  const clock = new ManualClock(0);
  const inner = new MemoryRegistry({ clock });
  let failPuts = false;
  const registry: Registry = {
    ...flaky(inner).registry,
    put: (key, value, lease) =>
      failPuts && key.endsWith("2")
        ? Promise.reject(new Error("etcd went away again"))
        : inner.put(key, value, lease),
  };
  const keeper = new LeaseKeeper(registry, { ttlSeconds: 9, clock });
  await keeper.register(KEY, "{}");
  await keeper.register(`${KEY}2`, "{}");
  await inner.revokeLease(keeper.lease!); // the lease is lost: its keys went with it
  failPuts = true;
  clock.advance(3000);
  await keeper.renew(); // a new lease; the second put fails
  assert.deepEqual(await keys(inner), [KEY]);
  failPuts = false;
  clock.advance(3000);
  await keeper.renew(); // the lease is alive: the missing key is put back
  assert.deepEqual(await keys(inner), [KEY, `${KEY}2`]);
  await keeper.stop();
  await inner.close();
});

Deno.test("LeaseKeeper: two registrations before any lease share one grant", async () => {
  const clock = new ManualClock(0);
  const inner = new MemoryRegistry({ clock });
  let grants = 0;
  const registry: Registry = {
    ...flaky(inner).registry,
    grantLease: (ttl) => (grants++, inner.grantLease(ttl)),
  };
  const keeper = new LeaseKeeper(registry, { ttlSeconds: 9, clock });
  await Promise.all([keeper.register(KEY, "{}"), keeper.register(`${KEY}2`, "{}")]);
  assert.equal(grants, 1);
  for (let i = 0; i < 10; i++) { // many TTLs: both keys live on the one renewed lease
    clock.advance(3000);
    await keeper.renew();
  }
  assert.deepEqual(await keys(inner), [KEY, `${KEY}2`]);
  await keeper.stop();
  await inner.close();
});
