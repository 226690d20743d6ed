/**
 * The router's promises on the embedded planes: policies, direct calls, and what happens when an
 * instance never takes a request, goes quiet, or leaves the registry mid-stream.
 */

import assert from "node:assert/strict";
import type { Bus } from "../../planes/bus.ts";
import { component } from "../../actors/component.ts";
import { MeshError } from "../../protocol/errors.ts";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { instanceKey, mailboxSubject } from "../../protocol/names.ts";
import { encodeFrame } from "../../protocol/wire.ts";
import { Runtime, type RuntimeOptions } from "../../runtime/runtime.ts";

const NS = "router_test";

const Echo = component({
  name: "Echo",
  endpoints: {
    generate: (request: { text: string }, ctx) => ({
      text: request.text,
      instance: ctx.instanceId,
      attempt: ctx.attempt,
    }),
  },
});

function mesh() {
  const bus = new MemoryBus();
  const registry = new MemoryRegistry();
  const runtimes: Runtime[] = [];
  return {
    bus,
    registry,
    runtime(options: Partial<RuntimeOptions> = {}) {
      const runtime = new Runtime({ bus: bus.connection(), registry, namespace: NS, ...options });
      runtimes.push(runtime);
      return runtime;
    },
    async [Symbol.asyncDispose]() {
      for (const runtime of runtimes) {
        await runtime.shutdown(100);
        await runtime.bus.close();
      }
      await bus.close();
      await registry.close();
    },
  };
}

/** Registers an instance of Echo that does whatever `onRequest` says with what it receives. */
async function fakeInstance(
  bus: Bus,
  registry: MemoryRegistry,
  id: string,
  onRequest: (reply: string) => void,
) {
  const address = { namespace: NS, component: "Echo", endpoint: "generate" };
  const subject = mailboxSubject(address, id);
  const subscription = bus.subscribe(subject, (message) => onRequest(message.reply!));
  await registry.put(
    instanceKey(address, id),
    JSON.stringify({
      ...address,
      instance: id,
      subject,
      hostname: "fake",
      pid: 0,
      startedAt: "",
      version: "",
      meta: {},
    }),
  );
  return { subscription, key: instanceKey(address, id) };
}

async function one(stream: AsyncIterable<unknown>): Promise<Record<string, unknown>> {
  const chunks: unknown[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(chunks.length, 1);
  return chunks[0] as Record<string, unknown>;
}

Deno.test("roundRobin() cycles through every instance in instance-id order", async () => {
  await using m = mesh();
  const servers = [m.runtime(), m.runtime(), m.runtime()];
  const ids: string[] = [];
  for (const server of servers) ids.push((await server.serve(Echo))[0]!.id);
  const client = m.runtime().client(Echo);
  await client.waitForInstances(3);
  const seen: unknown[] = [];
  for (let i = 0; i < 6; i++) seen.push((await one(client.roundRobin({ text: "x" }))).instance);
  ids.sort();
  const start = ids.indexOf(seen[0] as string);
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5].map((i) => ids[(start + i) % 3]));
});

Deno.test("direct() reaches the named instance; an unknown id is not_found naming the live ones", async () => {
  await using m = mesh();
  const [a] = await m.runtime().serve(Echo);
  const [b] = await m.runtime().serve(Echo);
  const client = m.runtime().client(Echo);
  await client.waitForInstances(2);
  for (let i = 0; i < 3; i++) {
    assert.equal((await one(client.direct({ text: "x" }, b!.id))).instance, b!.id);
  }
  await assert.rejects(one(client.direct({ text: "x" }, "nope")), (error) => {
    assert.ok(error instanceof MeshError);
    assert.equal(error.code, "not_found");
    assert.match(
      error.message,
      new RegExp(`live instances: (${a!.id}, ${b!.id}|${b!.id}, ${a!.id})`),
    );
    return true;
  });
});

Deno.test("a request no instance acknowledges in time is retried on another instance", async () => {
  await using m = mesh();
  await fakeInstance(m.bus, m.registry, "000000000000", () => {}); // takes it, says nothing
  const [live] = await m.runtime().serve(Echo);
  const client = m.runtime({ ackTimeoutMs: 100 }).client(Echo, { policy: "round_robin" });
  await client.waitForInstances(2);
  for (let i = 0; i < 4; i++) {
    const answer = await one(client.generate({ text: `t${i}` }));
    assert.equal(answer.instance, live!.id);
    assert.equal(answer.text, `t${i}`);
  }
});

Deno.test("an instance that goes quiet after acknowledging fails the call with instance_lost", async () => {
  await using m = mesh();
  await fakeInstance(m.bus, m.registry, "111111111111", (reply) => {
    m.bus.publish(reply, encodeFrame(0, "ack", "111111111111"));
  });
  const client = m.runtime({ heartbeatTimeoutMs: 200 }).client(Echo);
  await client.waitForInstances(1);
  await assert.rejects(
    one(client.generate({ text: "x" })),
    (error) => error instanceof MeshError && error.code === "instance_lost",
  );
});

Deno.test("an instance removed from the registry mid-stream fails its calls at once", async () => {
  await using m = mesh();
  let acked!: () => void;
  const ackedNow = new Promise<void>((resolve) => (acked = resolve));
  const fake = await fakeInstance(m.bus, m.registry, "222222222222", (reply) => {
    m.bus.publish(reply, encodeFrame(0, "ack", "222222222222"));
    acked();
  });
  const client = m.runtime({ heartbeatTimeoutMs: 60_000 }).client(Echo);
  await client.waitForInstances(1);
  const call = one(client.generate({ text: "x" }));
  await ackedNow;
  await m.registry.delete(fake.key);
  await assert.rejects(
    call,
    (error) => error instanceof MeshError && error.code === "instance_lost",
  );
});

Deno.test("a message that is not a request envelope is dropped and counted; the actor keeps serving", async () => {
  await using m = mesh();
  const [actor] = await m.runtime().serve(Echo);
  const subject = mailboxSubject(
    { namespace: NS, component: "Echo", endpoint: "generate" },
    actor!.id,
  );
  m.bus.publish(subject, new TextEncoder().encode("garbage"));
  m.bus.publish(subject, new Uint8Array(0), {
    reply: "_INBOX.x",
    headers: { "Mesh-Deadline": "soon" },
  });
  await m.bus.flush();
  assert.equal(actor!.droppedMessages, 2);
  const client = m.runtime().client(Echo);
  await client.waitForInstances(1);
  assert.equal((await one(client.generate({ text: "still here" }))).text, "still here");
});

Deno.test("a request whose deadline has passed gets deadline_exceeded", async () => {
  await using m = mesh();
  await m.runtime().serve(Echo);
  const client = m.runtime().client(Echo);
  await client.waitForInstances(1);
  await assert.rejects(
    one(client.generate({ text: "x" }, { deadline: Date.now() - 1 })),
    (error) => error instanceof MeshError && error.code === "deadline_exceeded",
  );
});

Deno.test("an unknown routing policy is a TypeError naming the known ones", async () => {
  await using m = mesh();
  assert.throws(
    () => m.runtime().client(Echo, { policy: "fastest" }),
    /Unknown routing policy "fastest": use one of/,
  );
});

Deno.test("an instance marked down is tried again after downMs, without a registry update", async () => {
  await using m = mesh();
  let answering = false;
  const id = "333333333333";
  await fakeInstance(m.bus, m.registry, id, (reply) => {
    if (!answering) return; // takes requests, says nothing: like a bus outage
    m.bus.publish(
      reply,
      encodeFrame(0, "final", id, new TextEncoder().encode('{"instance":"333333333333"}')),
    );
  });
  const [live] = await m.runtime().serve(Echo);
  const caller = m.runtime({ ackTimeoutMs: 50, clientDefaults: { downMs: 200 } });
  const client = caller.client(Echo, { policy: "round_robin" });
  await client.waitForInstances(2);
  const seen = new Set<string>();
  for (let i = 0; i < 2; i++) {
    seen.add((await one(client.generate({ text: "x" }))).instance as string);
  }
  assert.deepEqual(seen, new Set([live!.id])); // the silent one was marked down
  answering = true;
  const started = Date.now();
  while (!seen.has(id)) {
    assert.ok(Date.now() - started < 5000, "the down mark never expired");
    seen.add((await one(client.generate({ text: "x" }))).instance as string);
  }
});
