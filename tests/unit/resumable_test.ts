/**
 * Resumable streams: when the instance serving a `resumable` endpoint is lost mid-stream, the
 * caller continues on another instance from the last chunk it has, and its consumer sees one
 * complete stream with no gap and no duplicate.
 */

import assert from "node:assert/strict";
import { component } from "../../actors/component.ts";
import { MeshError } from "../../protocol/errors.ts";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { Runtime } from "../../runtime/runtime.ts";

function setup(resumable: boolean) {
  const bus = new MemoryBus();
  const registry = new MemoryRegistry();
  const runtimes: Runtime[] = [];
  const failers = new Map<string, (error: unknown) => void>();
  const served = new Map<string, number[]>();
  /** A counting gate: each release() lets one chunk out, whenever its handler gets there. */
  let permits = 0;
  const waiting: (() => void)[] = [];
  /** Waits for a permit, or rejects when `signal` aborts (a failed instance stops waiting). */
  const acquire = (signal: AbortSignal) => {
    if (permits > 0) {
      permits--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const wake = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        waiting.splice(waiting.indexOf(wake), 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      waiting.push(wake);
    });
  };
  const Counter = component({
    name: "Counter",
    resumable,
    start(ctx) {
      failers.set(ctx.instanceId, ctx.fail);
      return {
        async *generate(request: { n: number }, c) {
          for (let i = c.resumeFrom; i < request.n; i++) {
            await acquire(c.signal);
            served.set(c.instanceId, [...(served.get(c.instanceId) ?? []), i]);
            yield i;
          }
        },
      };
    },
  });
  const runtime = (hostname: string) => {
    const r = new Runtime({
      bus: runtimes.length ? bus.connection() : bus,
      registry,
      namespace: "resume",
      hostname,
    });
    runtimes.push(r);
    return r;
  };
  return {
    Counter,
    runtime,
    failers,
    served,
    /** Lets one chunk out. */
    release() {
      const next = waiting.shift();
      if (next) next();
      else permits++;
    },
    async [Symbol.asyncDispose]() {
      for (const wake of waiting.splice(0)) wake();
      for (const r of runtimes.reverse()) {
        await r.shutdown(100);
        await r.bus.close();
      }
      await registry.close();
    },
  };
}

Deno.test("a resumable stream whose instance fails continues on another, gap-free and duplicate-free", async () => {
  await using s = setup(true);
  await s.runtime("a").serve(s.Counter, { backoff: { initialMs: 10_000 } });
  await s.runtime("b").serve(s.Counter, { backoff: { initialMs: 10_000 } });
  const client = s.runtime("caller").client(s.Counter);
  await client.waitForInstances(2);
  const received: unknown[] = [];
  const stream = client.generate({ n: 8 })[Symbol.asyncIterator]();
  for (let i = 0; i < 3; i++) {
    s.release();
    received.push((await stream.next()).value);
  }
  const [first] = [...s.served.keys()];
  s.failers.get(first!)!(new Error("node lost")); // mid-stream
  for (;;) {
    s.release();
    const next = await stream.next();
    if (next.done) break;
    received.push(next.value);
  }
  assert.deepEqual(received, [0, 1, 2, 3, 4, 5, 6, 7]);
  const [, second] = [...s.served.keys()];
  assert.ok(second && second !== first, "the rest came from the other instance");
  assert.equal(s.served.get(second)![0], 3, "it resumed at chunk 3, not 0");
});

Deno.test("a stream that is not resumable ends with instance_lost when its instance fails", async () => {
  await using s = setup(false);
  await s.runtime("a").serve(s.Counter, { backoff: { initialMs: 10_000 } });
  await s.runtime("b").serve(s.Counter, { backoff: { initialMs: 10_000 } });
  const client = s.runtime("caller").client(s.Counter);
  await client.waitForInstances(2);
  const stream = client.generate({ n: 8 })[Symbol.asyncIterator]();
  s.release();
  assert.equal((await stream.next()).value, 0);
  s.failers.get([...s.served.keys()][0]!)!(new Error("node lost"));
  s.release();
  await assert.rejects(
    stream.next(),
    (error) => error instanceof MeshError && error.code === "instance_lost",
  );
});

Deno.test("migrations are bounded by migrationLimit", async () => {
  await using s = setup(true);
  for (const host of ["a", "b", "c"]) {
    await s.runtime(host).serve(s.Counter, { backoff: { initialMs: 10_000 } });
  }
  const caller = s.runtime("caller");
  caller.client(s.Counter).close();
  const client = new Runtime({
    bus: caller.bus,
    registry: caller.registry,
    namespace: "resume",
    clientDefaults: { migrationLimit: 1 },
  }).client(s.Counter);
  await client.waitForInstances(3);
  const stream = client.generate({ n: 100 })[Symbol.asyncIterator]();
  const failOwner = async () => {
    s.release();
    await stream.next();
    const owner = [...s.served.entries()].find(([id]) => s.failers.has(id))![0];
    s.failers.get(owner)!(new Error("lost"));
    s.failers.delete(owner);
    s.served.delete(owner);
  };
  await failOwner(); // first loss: migrates (1 of 1)
  await failOwner(); // second loss: over the limit
  s.release();
  await assert.rejects(
    stream.next(),
    (error) => error instanceof MeshError && error.code === "instance_lost",
  );
});
