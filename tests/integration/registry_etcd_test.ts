/**
 * The registry contract against {@linkcode EtcdRegistry} on a real etcd, plus the failures only a
 * real server has: an endpoint nobody answers, a server that stops and comes back, a compacted
 * history and a wiped store.
 *
 * Each case starts its own etcd (about 0.2 s) and stops it before it ends, so Deno's sanitizers
 * stay on.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connectEtcdRegistry, EtcdRegistry } from "../../planes/etcd/etcd_registry.ts";
import { parseEtcdEndpoints } from "../../planes/etcd/endpoints.ts";
import { silentLogger } from "../../utils/logger.ts";
import type { WatchEvent } from "../../planes/registry.ts";
import { type EtcdServer, startEtcd } from "../helpers/etcd_server.ts";
import { registryContract } from "../registry_contract.ts";

registryContract("EtcdRegistry", async () => {
  const etcd = await startEtcd();
  const clients: EtcdRegistry[] = [];
  return {
    ttlSeconds: 2, // etcd's minimum with the default election timeout
    async open() {
      const registry = await connectEtcdRegistry({
        endpoints: etcd.endpoint,
        logger: silentLogger,
      });
      clients.push(registry);
      return registry;
    },
    output: () => etcd.output(),
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      await etcd[Symbol.asyncDispose]();
    },
  };
});

/** Runs `fn` with a fresh etcd and a client on it; prints the server's output on failure. */
async function withEtcd(
  fn: (etcd: EtcdServer, registry: EtcdRegistry) => Promise<void>,
): Promise<void> {
  await using etcd = await startEtcd();
  const registry = await connectEtcdRegistry({
    endpoints: etcd.endpoint,
    dialTimeoutMs: 2_000,
    logger: silentLogger,
  });
  try {
    await fn(etcd, registry);
  } catch (error) {
    console.error(`--- etcd output ---\n${etcd.output()}--- end ---`);
    throw error;
  } finally {
    await registry.close();
  }
}

/** Resolves when `check()` holds after a callback fires; rejects after `ms`. */
function signal() {
  const waiters = new Set<() => void>();
  return {
    notify: () => waiters.forEach((waiter) => waiter()),
    until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
      if (check()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const waiter = () => {
          if (!check()) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`Timed out after ${ms}ms waiting for ${what}`));
        }, ms);
        waiters.add(waiter);
      });
    },
  };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("parseEtcdEndpoints() accepts URLs, bare host:port and comma-separated lists", () => {
  assert.deepEqual(parseEtcdEndpoints("http://127.0.0.1:2379"), ["http://127.0.0.1:2379"]);
  assert.deepEqual(parseEtcdEndpoints("10.0.0.1:2379, 10.0.0.2:2380"), [
    "http://10.0.0.1:2379",
    "http://10.0.0.2:2380",
  ]);
  assert.deepEqual(parseEtcdEndpoints(["etcd", "https://etcd-2:2379/"]), [
    "http://etcd:2379",
    "https://etcd-2:2379",
  ]);
  assert.throws(() => parseEtcdEndpoints(" , "), TypeError);
  assert.throws(() => parseEtcdEndpoints("nats://127.0.0.1:4222"), /Invalid etcd endpoint/);
});

Deno.test("connectEtcdRegistry() fails fast and clearly when nobody answers", async () => {
  const port = freePort();
  const started = performance.now();
  await assert.rejects(
    connectEtcdRegistry({ endpoints: `127.0.0.1:${port}`, dialTimeoutMs: 2_000 }),
    (error: Error) => {
      assert.match(
        error.message,
        new RegExp(`^Cannot reach etcd at http://127\\.0\\.0\\.1:${port}: `),
      );
      return true;
    },
  );
  assert.ok(performance.now() - started < 3_000, "fails within the dial timeout");
});

Deno.test("EtcdRegistry calls throw while etcd is down, and keepAlive() works once it is back", async () => {
  await withEtcd(async (etcd, registry) => {
    const lease = await registry.grantLease(30);
    await registry.put("k", "v", lease);
    await etcd.stop();
    const started = performance.now();
    await assert.rejects(registry.keepAlive(lease), /^Error: Cannot renew lease/);
    await assert.rejects(registry.getPrefix("k"), /Cannot read prefix "k" at etcd/);
    assert.ok(performance.now() - started < 6_000, "calls fail within the dial timeout");
    const watchStarted = performance.now();
    await assert.rejects(
      registry.watchPrefix("k", 0n, { onEvent: () => {} }),
      /^Error: Cannot watch "k" at etcd http:\/\/127\.0\.0\.1:\d+: .*UNAVAILABLE/,
    );
    assert.ok(performance.now() - watchStarted < 3_000, "a watch gives up after the dial timeout");
    await etcd.start();
    assert.equal(await registry.keepAlive(lease), true);
    assert.deepEqual((await registry.getPrefix("k")).kvs, [{ key: "k", value: "v" }]);
  });
});

Deno.test("EtcdRegistry watch reports the connection and misses nothing across a restart", async () => {
  await withEtcd(async (etcd, registry) => {
    const { revision } = await registry.getPrefix("w/");
    const connection: boolean[] = [];
    const events: WatchEvent[] = [];
    const changed = signal();
    const watch = await registry.watchPrefix("w/", revision + 1n, {
      onEvent: (event) => (events.push(event), changed.notify()),
      onConnection: (up) => (connection.push(up), changed.notify()),
      onReset: (reason) => assert.fail(`unexpected reset: ${reason}`),
    });
    await registry.put("w/a", "1");
    await changed.until("the first put", () => events.length === 1);
    await etcd.stop();
    await changed.until("onConnection(false)", () => connection.includes(false));
    await etcd.start();
    await changed.until("onConnection(true)", () => connection.at(-1) === true);
    await registry.put("w/b", "2");
    await changed.until("the second put", () => events.length >= 2);
    assert.deepEqual(connection, [false, true]);
    assert.deepEqual(events.map((event) => `${event.type} ${event.key}`), ["put w/a", "put w/b"]);
    await watch.close();
  });
});

Deno.test("EtcdRegistry watch from a compacted revision calls onReset", async () => {
  await withEtcd(async (etcd, registry) => {
    for (let i = 0; i < 5; i++) await registry.put(`c/${i}`, String(i));
    const { revision } = await registry.getPrefix("c/");
    const response = await fetch(`${etcd.endpoint}/v3/kv/compaction`, {
      method: "POST",
      body: JSON.stringify({ revision: String(revision), physical: true }),
    });
    assert.equal(response.status, 200, await response.text());
    const resets: string[] = [];
    const reset = signal();
    const events: WatchEvent[] = [];
    const watch = await registry.watchPrefix("c/", 2n, {
      onEvent: (event) => events.push(event),
      onReset: (reason) => (resets.push(reason), reset.notify()),
    });
    await reset.until("onReset", () => resets.length > 0);
    assert.deepEqual(events, []);
    await watch.close();
  });
});

Deno.test("EtcdRegistry watch calls onReset when etcd comes back with a wiped store", async () => {
  await withEtcd(async (etcd, registry) => {
    const lease = await registry.grantLease(30);
    for (let i = 0; i < 3; i++) await registry.put(`r/${i}`, String(i), lease);
    const { revision } = await registry.getPrefix("r/");
    const resets: string[] = [];
    const reset = signal();
    const watch = await registry.watchPrefix("r/", revision + 1n, {
      onEvent: () => {},
      onReset: (reason) => (resets.push(reason), reset.notify()),
    });
    await etcd.restart({ wipeData: true });
    await reset.until("onReset", () => resets.length > 0);
    assert.match(resets[0]!, /replaced/);
    assert.equal(await registry.keepAlive(lease), false, "the lease went with the store");
    await watch.close();
  });
});

Deno.test("EtcdRegistry logs in with a user name and password, and says so when it cannot", async () => {
  await using etcd = await startEtcd();
  for (
    const [path, body] of [
      ["auth/role/add", { name: "root" }],
      ["auth/user/add", { name: "root", password: "s3cret" }],
      ["auth/user/grant", { user: "root", role: "root" }],
      ["auth/enable", {}],
    ] as const
  ) {
    const response = await fetch(`${etcd.endpoint}/v3/${path}`, {
      method: "POST",
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 200, `${path}: ${await response.text()}`);
  }
  await assert.rejects(
    connectEtcdRegistry({ endpoints: etcd.endpoint, username: "root", password: "wrong" }),
    /^Error: Cannot log in to etcd at http:\/\/127\.0\.0\.1:\d+: .*authentication failed/,
  );
  await using registry = await connectEtcdRegistry({
    endpoints: etcd.endpoint,
    username: "root",
    password: "s3cret",
    logger: silentLogger,
  });
  const lease = await registry.grantLease(5);
  await registry.put("auth/a", "1", lease);
  assert.equal(await registry.keepAlive(lease), true);
  assert.deepEqual((await registry.getPrefix("auth/")).kvs, [{ key: "auth/a", value: "1" }]);
});
