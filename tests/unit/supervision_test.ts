/**
 * Supervision inside a runtime: instances that fail come back under a new id; callers mid-request
 * are told; too many failures make the runtime give up.
 */

import assert from "node:assert/strict";
import { component } from "../../actors/component.ts";
import { MeshError } from "../../protocol/errors.ts";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { Runtime } from "../../runtime/runtime.ts";
import { EscalationError } from "../../actors/supervisor.ts";

const fast = { initialMs: 1, maxMs: 5, jitter: 0 };

function setup() {
  const bus = new MemoryBus();
  const registry = new MemoryRegistry();
  const server = new Runtime({ bus, registry, namespace: "sup" });
  const caller = new Runtime({ bus: bus.connection(), registry, namespace: "sup" });
  const fails: ((error: unknown) => void)[] = [];
  let gate: Promise<void> = Promise.resolve();
  let opened!: () => void;
  const Flaky = component({
    name: "Flaky",
    start(ctx) {
      fails.push(ctx.fail);
      return {
        async *generate(_request: unknown, c) {
          yield "started";
          await gate;
          yield c.instanceId;
        },
      };
    },
  });
  return {
    server,
    caller,
    fails,
    Flaky,
    hold() {
      gate = new Promise((resolve) => (opened = resolve));
    },
    release: () => opened(),
    async [Symbol.asyncDispose]() {
      await caller.shutdown(100);
      await server.shutdown(100);
      await caller.bus.close();
      await bus.close();
      await registry.close();
    },
  };
}

Deno.test("an instance that fails is restarted under a new id and registered again", async () => {
  await using s = setup();
  const [first] = await s.server.serve(s.Flaky, { backoff: fast });
  const client = s.caller.client(s.Flaky);
  await client.waitForInstances(1);
  assert.deepEqual(client.instanceIds(), [first!.id]);
  s.fails[0]!(new Error("lost my connection"));
  // The old id leaves the registry and a new one arrives.
  while (client.instanceIds().length !== 1 || client.instanceIds()[0] === first!.id) {
    await s.caller.view(client.address).changed(AbortSignal.timeout(5000));
  }
  const second = client.instanceIds()[0]!;
  assert.notEqual(second, first!.id);
  const chunks: unknown[] = [];
  for await (const chunk of client.generate({})) chunks.push(chunk);
  assert.deepEqual(chunks, ["started", second]);
  assert.deepEqual(s.server.supervisors[0]!.stats.restarts, { "Flaky/1": 1 });
});

Deno.test("a caller mid-request on an instance that fails is told instance_lost", async () => {
  await using s = setup();
  await s.server.serve(s.Flaky, { backoff: fast });
  const client = s.caller.client(s.Flaky);
  await client.waitForInstances(1);
  s.hold();
  const stream = client.generate({})[Symbol.asyncIterator]();
  assert.deepEqual(await stream.next(), { value: "started", done: false });
  s.fails[0]!(new Error("boom"));
  await assert.rejects(
    stream.next(),
    (error) => error instanceof MeshError && error.code === "instance_lost",
  );
  s.release();
});

Deno.test("more failures than max_restarts within the period: the runtime reports a fatal error", async () => {
  await using s = setup();
  const fatal = new Promise<unknown>((resolve) => s.server.onFatal(resolve));
  await s.server.serve(s.Flaky, { backoff: fast, maxRestarts: 2, restartPeriodMs: 60_000 });
  for (let i = 0; i < 3; i++) {
    while (s.fails.length <= i) {
      await s.server.view({ namespace: "sup", component: "Flaky", endpoint: "generate" }).changed(
        AbortSignal.timeout(5000),
      );
    }
    s.fails[i]!(new Error(`failure ${i}`));
  }
  const error = await fatal;
  assert.ok(error instanceof EscalationError);
  assert.match(error.message, /Supervisor "Flaky" gave up: more than 2 restarts in 60000 ms/);
});

Deno.test("a start hook that throws on the first start fails serve()", async () => {
  await using s = setup();
  const Broken = component({
    name: "Broken",
    start() {
      throw new Error("missing model file");
    },
  });
  await assert.rejects(s.server.serve(Broken), /missing model file/);
  assert.equal(s.server.actors.length, 0);
});
