/**
 * Each routing policy's defining property, and the per-instance `max_inflight` limit, on a real
 * `nats-server` with a real etcd for discovery.
 *
 * Every test starts its own NATS and etcd (together well under a second) and stops them by PID
 * before it ends. Each instance runs in its own {@linkcode Runtime} with its own NATS connection
 * and etcd client, as separate processes would; the caller is one more runtime, so no call takes
 * the in-process (`prefer_local`) path unless a test asks for it. The instances serve `Probe`,
 * which answers its instance id and can hold a request open on a gate the test controls, so
 * "busy" is a state the test sets up and observes, never a sleep.
 *
 * | policy | property shown |
 * |---|---|
 * | `round_robin` | 30 calls over 3 instances repeat with period 3, 10 each |
 * | `random` | 3,000 calls: chi-square (2 d.o.f.) below 13.82, the 0.999 critical value |
 * | `least_loaded` | with 5 calls held on A, the next 20 all go to B or C |
 * | `power_of_two` | with 5 calls held on A, none of the next 40 goes to A |
 * | `consistent_hash` | 200 keys stay put; a 4th instance takes 10%..45%, and only it gains |
 * | `queue` | 300 calls: each request id seen by exactly one handler, exactly once |
 * | `max_inflight` | an instance at its limit answers `busy` and the caller goes elsewhere; all busy is a fast `busy` error, and `503` with `Retry-After` at the gateway |
 *
 * The last two tests run the callers and instances in one runtime (the `prefer_local` path of
 * embedded mode and the seed's node 1): `max_inflight` holds there too, and — a known bug, the
 * test fails until it is fixed — `least_loaded` should count calls in flight to local instances.
 *
 * Set `POLICY_FIGURES=1` to print the measured figures (counts, chi-square, moved fraction).
 *
 * @module
 */

import assert from "node:assert/strict";
import { component, type RequestContext } from "../../actors/component.ts";
import { MeshError } from "../../protocol/errors.ts";
import { connectEtcdRegistry } from "../../planes/etcd/etcd_registry.ts";
import { silentLogger } from "../../utils/logger.ts";
import { connectNatsBus } from "../../planes/nats/connect.ts";
import { Runtime, type RuntimeOptions } from "../../runtime/runtime.ts";
import { createGatewayApp } from "../../gateway/app.ts";
import type { CallOptions, EndpointClient } from "../../router/client.ts";
import { type EtcdServer, startEtcd } from "../helpers/etcd_server.ts";
import { type NatsServer, startNatsServer } from "../helpers/nats_server.ts";

const NS = "policies_nats";
/** Upper bound of every wait in this file. */
const WAIT_MS = 5000;
/** Chi-square critical value, 2 degrees of freedom, p = 0.001. */
const CHI2_2DOF_999 = 13.82;

const figures = Deno.env.get("POLICY_FIGURES") ? console.log : () => {};

/** What a `Probe` request may ask for. */
interface ProbeRequest {
  /** Hold the request open until the test opens the gate. */
  hold?: boolean;
  session_id?: string;
}

/** What a `Probe` instance answers. */
interface ProbeAnswer {
  instance: string;
  attempt: number;
  requestId: string;
}

/**
 * The test component and what its instances saw: every request id each handler was entered
 * with, and how many requests each is holding open on the gate right now.
 */
class Probe {
  /** Instance id -> request ids its handler was entered with, in order. */
  readonly seen = new Map<string, string[]>();
  /** Instance id -> requests held open now. */
  readonly holding = new Map<string, number>();
  #gate = Promise.withResolvers<void>();
  #listeners = new Set<() => void>();

  readonly component = component({
    name: "Probe",
    endpoints: {
      generate: (request: ProbeRequest, ctx) => this.#handle(request, ctx),
    },
  });

  async #handle(request: ProbeRequest, ctx: RequestContext): Promise<ProbeAnswer> {
    const ids = this.seen.get(ctx.instanceId) ?? [];
    ids.push(ctx.requestId);
    this.seen.set(ctx.instanceId, ids);
    if (request?.hold) {
      const gate = this.#gate.promise;
      this.#count(ctx.instanceId, +1);
      try {
        await Promise.race([gate, aborted(ctx.signal)]);
      } finally {
        this.#count(ctx.instanceId, -1);
      }
    }
    this.#notify();
    return { instance: ctx.instanceId, attempt: ctx.attempt, requestId: ctx.requestId };
  }

  /** Lets every request held so far finish; later holds wait for the next release. */
  release(): void {
    this.#gate.resolve();
    this.#gate = Promise.withResolvers<void>();
  }

  /** How many requests the handlers of `instance` were entered with. */
  entered(instance: string): number {
    return this.seen.get(instance)?.length ?? 0;
  }

  /** Waits (at most `WAIT_MS`) until `instance` holds `count` requests open. */
  untilHolding(instance: string, count: number): Promise<void> {
    return this.until(
      () => (this.holding.get(instance) ?? 0) >= count,
      `${count} requests held on instance ${instance} (holding ${this.holding.get(instance) ?? 0})`,
    );
  }

  /** Waits until `condition` holds, re-checking whenever a handler starts or stops holding. */
  async until(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    const giveUpAt = Date.now() + timeoutMs;
    while (!condition()) {
      const remaining = giveUpAt - Date.now();
      if (remaining <= 0) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#listeners.delete(done);
          resolve();
        };
        const timer = setTimeout(done, remaining);
        this.#listeners.add(done);
      });
    }
  }

  #count(instance: string, delta: number): void {
    this.holding.set(instance, (this.holding.get(instance) ?? 0) + delta);
    this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

/** Resolves when `signal` aborts (the request was cancelled or the instance is stopping). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** Drains a call and checks it answered exactly one chunk. */
async function one(stream: AsyncIterable<unknown>): Promise<ProbeAnswer> {
  const chunks: unknown[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(chunks.length, 1, `expected one chunk, got ${JSON.stringify(chunks)}`);
  return chunks[0] as ProbeAnswer;
}

/** Runs `count` calls, `concurrency` at a time, in order of their index. */
async function callMany(
  count: number,
  concurrency: number,
  call: (index: number) => Promise<ProbeAnswer>,
): Promise<ProbeAnswer[]> {
  const answers: ProbeAnswer[] = new Array(count);
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const index = next++;
      answers[index] = await call(index);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return answers;
}

function tally(ids: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

function show(counts: Map<string, number>, names: Map<string, string>): string {
  return [...counts].map(([id, n]) => `${names.get(id) ?? id}=${n}`).sort().join(" ");
}

/**
 * One NATS server, one etcd, and the runtimes of a test, each on its own connections. Disposing
 * shuts the runtimes down (newest first), closes their connections, then stops both servers.
 */
class Mesh implements AsyncDisposable {
  readonly nats: NatsServer;
  readonly etcd: EtcdServer;
  #closers: (() => Promise<void>)[] = [];
  #nodes = 0;

  private constructor(nats: NatsServer, etcd: EtcdServer) {
    this.nats = nats;
    this.etcd = etcd;
  }

  static async start(): Promise<Mesh> {
    const nats = await startNatsServer();
    try {
      return new Mesh(nats, await startEtcd());
    } catch (error) {
      await nats.stop();
      throw error;
    }
  }

  /** A runtime with its own NATS connection and etcd client, as a separate process would have. */
  async node(hostname: string, options: Partial<RuntimeOptions> = {}): Promise<Runtime> {
    const bus = await connectNatsBus({
      servers: this.nats.url,
      name: hostname,
      logger: silentLogger,
    });
    this.#closers.push(() => bus.close());
    const registry = await connectEtcdRegistry({
      endpoints: this.etcd.endpoint,
      dialTimeoutMs: 3000,
      logger: silentLogger,
    });
    this.#closers.push(() => registry.close());
    const runtime = new Runtime({
      bus,
      registry,
      namespace: NS,
      hostname,
      clientDefaults: { timeoutMs: WAIT_MS, waitMs: 3000 },
      ...options,
    });
    this.#closers.push(() => runtime.shutdown(500));
    return runtime;
  }

  /** `count` instances of the probe, each in its own runtime; resolves with their ids. */
  async instances(probe: Probe, count: number, maxInflight = 0): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const runtime = await this.node(`node${++this.#nodes}`);
      const [actor] = await runtime.serve(probe.component, { maxInflight });
      ids.push(actor!.id);
    }
    return ids;
  }

  /** A caller runtime's client to the probe, once it sees `count` instances. */
  async caller(probe: Probe, count: number, options: Partial<RuntimeOptions> = {}) {
    const runtime = await this.node("caller", options);
    const client = runtime.client(probe.component);
    await client.waitForInstances(count, { timeoutMs: WAIT_MS });
    return client;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const errors: unknown[] = [];
    for (const close of this.#closers.reverse()) {
      await close().catch((error) => errors.push(error));
    }
    try {
      await this.etcd[Symbol.asyncDispose]();
    } catch (error) {
      errors.push(error);
    }
    await this.nats.stop().catch((error) => errors.push(error));
    if (errors.length > 0) throw errors[0];
  }
}

/** Starts `count` calls that the probe holds open on `instance`; resolves once all are held. */
async function holdOn(
  probe: Probe,
  client: EndpointClient,
  instance: string,
  count: number,
): Promise<Promise<ProbeAnswer>[]> {
  const held: Promise<ProbeAnswer>[] = [];
  const already = probe.holding.get(instance) ?? 0;
  for (let i = 0; i < count; i++) held.push(one(client.direct({ hold: true }, instance)));
  // Keep a failing held call from being an unhandled rejection before the test awaits it.
  for (const call of held) call.catch(() => {});
  await probe.untilHolding(instance, already + count);
  return held;
}

/** Releases the probe's gate and checks that every held call completed on `instance`. */
async function releaseAll(probe: Probe, held: Promise<ProbeAnswer>[], instance: string) {
  probe.release();
  for (const answer of await Promise.all(held)) assert.equal(answer.instance, instance);
}

Deno.test("round_robin: 30 calls over 3 instances cycle exactly, period 3, 10 each", async () => {
  await using mesh = await Mesh.start();
  const probe = new Probe();
  const ids = await mesh.instances(probe, 3);
  const client = await mesh.caller(probe, 3);

  const sequence: string[] = [];
  for (let i = 0; i < 30; i++) {
    sequence.push((await one(client.generate({}, { policy: "round_robin" }))).instance);
  }
  assert.equal(new Set(sequence.slice(0, 3)).size, 3, `first three: ${sequence.slice(0, 3)}`);
  sequence.forEach((id, i) => assert.equal(id, sequence[i % 3], `call ${i}: ${sequence}`));
  // The cycle follows the instance-id order every caller sees.
  const sorted = [...ids].sort();
  const start = sorted.indexOf(sequence[0]!);
  assert.deepEqual(sequence.slice(0, 3), [0, 1, 2].map((i) => sorted[(start + i) % 3]));
  for (const id of ids) assert.equal(probe.entered(id), 10);
  figures(`round_robin: ${ids.map((id) => probe.entered(id)).join("/")}, period 3`);
});

Deno.test("random: 3,000 calls over 3 instances pass a chi-square test (2 d.o.f., p=0.001)", async () => {
  await using mesh = await Mesh.start();
  const probe = new Probe();
  const ids = await mesh.instances(probe, 3);
  const client = await mesh.caller(probe, 3);

  const answers = await callMany(3000, 10, () => one(client.random({})));
  const counts = tally(answers.map((answer) => answer.instance));
  assert.deepEqual([...counts.keys()].sort(), [...ids].sort());
  let chiSquare = 0;
  for (const id of ids) {
    assert.ok(counts.get(id)! > 0, id);
    chiSquare += (counts.get(id)! - 1000) ** 2 / 1000;
  }
  const names = new Map(ids.map((id, i) => [id, "ABC"[i]!]));
  assert.ok(chiSquare < CHI2_2DOF_999, `chi-square ${chiSquare}: ${show(counts, names)}`);
  figures(`random: ${show(counts, names)}, chi-square ${chiSquare.toFixed(2)}`);
});

Deno.test("least_loaded: with 5 calls held on A, the next 20 calls all go to B or C", async () => {
  await using mesh = await Mesh.start();
  const probe = new Probe();
  try {
    const [a, b, c] = await mesh.instances(probe, 3);
    const client = await mesh.caller(probe, 3);

    const held = await holdOn(probe, client, a!, 5);
    const answers: ProbeAnswer[] = [];
    for (let i = 0; i < 20; i++) {
      answers.push(await one(client.generate({}, { policy: "least_loaded" })));
    }
    const counts = tally(answers.map((answer) => answer.instance));
    const names = new Map([[a!, "A"], [b!, "B"], [c!, "C"]]);
    assert.equal(counts.get(a!), undefined, show(counts, names));
    assert.equal(probe.entered(a!), 5, "A's handler saw only the held calls");
    assert.ok(counts.get(b!)! > 0 && counts.get(c!)! > 0, show(counts, names));
    await releaseAll(probe, held, a!);
    figures(`least_loaded (A holding 5): ${show(counts, names)}`);
  } finally {
    probe.release();
  }
});

Deno.test("power_of_two: with 5 calls held on A, none of the next 40 calls goes to A", async () => {
  await using mesh = await Mesh.start();
  const probe = new Probe();
  try {
    const [a, b, c] = await mesh.instances(probe, 3);
    const client = await mesh.caller(probe, 3);

    const held = await holdOn(probe, client, a!, 5);
    const answers: ProbeAnswer[] = [];
    for (let i = 0; i < 40; i++) {
      answers.push(await one(client.generate({}, { policy: "power_of_two" })));
    }
    // A loses every comparison it is drawn into: each other instance has nothing in flight.
    const counts = tally(answers.map((answer) => answer.instance));
    const names = new Map([[a!, "A"], [b!, "B"], [c!, "C"]]);
    assert.equal(counts.get(a!), undefined, show(counts, names));
    assert.equal(probe.entered(a!), 5, "A's handler saw only the held calls");
    assert.ok(counts.get(b!)! > 0 && counts.get(c!)! > 0, show(counts, names));
    await releaseAll(probe, held, a!);
    figures(`power_of_two (A holding 5): ${show(counts, names)}`);
  } finally {
    probe.release();
  }
});

Deno.test("consistent_hash: 200 keys stay on their instance; a 4th instance takes some, and only it gains", async () => {
  await using mesh = await Mesh.start();
  const probe = new Probe();
  const ids = await mesh.instances(probe, 3);
  const client = await mesh.caller(probe, 3);
  const keys = Array.from({ length: 200 }, (_, i) => `user-${i}`);
  const call = (key: string) =>
    one(client.generate({ session_id: key }, { policy: "consistent_hash" }));

  const first = await callMany(keys.length, 10, (i) => call(keys[i]!));
  const second = await callMany(keys.length, 10, (i) => call(keys[i]!));
  keys.forEach((key, i) => assert.equal(second[i]!.instance, first[i]!.instance, key));
  const before = tally(first.map((answer) => answer.instance));
  for (const id of ids) assert.ok(before.get(id)! > 0, `${id} owns no key`);

  const [newcomer] = await mesh.instances(probe, 1);
  await client.waitForInstances(4, { timeoutMs: WAIT_MS });
  const after = await callMany(keys.length, 10, (i) => call(keys[i]!));
  let moved = 0;
  keys.forEach((key, i) => {
    if (after[i]!.instance === first[i]!.instance) return;
    moved++;
    assert.equal(after[i]!.instance, newcomer, `${key} moved from one old instance to another`);
  });
  const fraction = moved / keys.length;
  assert.ok(fraction >= 0.1 && fraction <= 0.45, `moved fraction ${fraction}`);
  // Still sticky with four.
  const again = await callMany(keys.length, 10, (i) => call(keys[i]!));
  keys.forEach((key, i) => assert.equal(again[i]!.instance, after[i]!.instance, key));
  const names = new Map([...ids, newcomer!].map((id, i) => [id, "ABCD"[i]!]));
  figures(
    `consistent_hash: 3 instances ${show(before, names)}; with D: ${
      show(tally(after.map((answer) => answer.instance)), names)
    }; moved ${moved}/200 = ${fraction}`,
  );
});

Deno.test("queue: 300 calls through the queue group, each handled by exactly one instance, once", async () => {
  await using mesh = await Mesh.start();
  const probe = new Probe();
  const ids = await mesh.instances(probe, 3);
  const client = await mesh.caller(probe, 3);

  const answers = await callMany(
    300,
    20,
    (i) => one(client.generate({}, { policy: "queue", requestId: `q-${i}` })),
  );
  answers.forEach((answer, i) => assert.equal(answer.requestId, `q-${i}`));
  // What the handlers saw: 300 entries in all, 300 distinct ids, each where its answer came from.
  const where = new Map<string, string>();
  let entries = 0;
  for (const [instance, requestIds] of probe.seen) {
    for (const requestId of requestIds) {
      entries++;
      assert.ok(
        !where.has(requestId),
        `${requestId} seen by ${where.get(requestId)} and ${instance}`,
      );
      where.set(requestId, instance);
    }
  }
  assert.equal(entries, 300);
  answers.forEach((answer, i) => assert.equal(where.get(`q-${i}`), answer.instance));
  const counts = tally(answers.map((answer) => answer.instance));
  assert.equal([...counts.values()].reduce((sum, n) => sum + n, 0), 300);
  for (const id of ids) assert.ok((counts.get(id) ?? 0) > 0, `${id} took no request`);
  const names = new Map(ids.map((id, i) => [id, "ABC"[i]!]));
  figures(`queue: ${show(counts, names)}, 300 distinct ids, none seen twice`);
});

Deno.test("max_inflight: an instance at its limit answers busy and the caller goes elsewhere; all busy fails fast", async () => {
  await using mesh = await Mesh.start();
  const probe = new Probe();
  try {
    const [a, b] = await mesh.instances(probe, 2, 1);
    const client = await mesh.caller(probe, 2, { ackTimeoutMs: 3000 });

    const heldA = await holdOn(probe, client, a!, 1);
    const answers: ProbeAnswer[] = [];
    for (let i = 0; i < 6; i++) {
      answers.push(await one(client.generate({}, { policy: "round_robin" })));
    }
    for (const answer of answers) assert.equal(answer.instance, b, "A is at its limit");
    // Round robin did pick A for some of them: A answered busy, and the call went on to B.
    const retried = answers.filter((answer) => answer.attempt > 1).length;
    assert.ok(retried > 0, `attempts ${answers.map((answer) => answer.attempt)}`);
    assert.equal(probe.entered(a!), 1, "A's handler saw only the held call");

    // A direct call to an instance at its limit is `busy` at once: nowhere else to go.
    await assert.rejects(one(client.direct({}, a!)), (error) => {
      assert.ok(error instanceof MeshError);
      assert.equal(error.code, "busy");
      return true;
    });

    const heldB = await holdOn(probe, client, b!, 1);
    const started = performance.now();
    await assert.rejects(one(client.generate({}, { policy: "round_robin" })), (error) => {
      assert.ok(error instanceof MeshError, String(error));
      assert.equal(error.code, "busy");
      assert.equal(error.retryable, true);
      return true;
    });
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `all busy took ${elapsed} ms (the ack timeout is 3000 ms)`);
    assert.equal(probe.entered(a!) + probe.entered(b!), 1 + 6 + 1, "no handler ran beyond a limit");

    probe.release();
    assert.equal((await Promise.all(heldA))[0]!.instance, a);
    assert.equal((await Promise.all(heldB))[0]!.instance, b);
    // Free again: calls are served.
    assert.ok([a, b].includes((await one(client.generate({}))).instance));
    figures(
      `max_inflight: 6/6 calls to B while A held (${retried} after a busy from A); ` +
        `all busy -> busy in ${elapsed.toFixed(1)} ms`,
    );
  } finally {
    probe.release();
  }
});

Deno.test("max_inflight through the gateway: every instance at its limit is 503 with Retry-After", async () => {
  await using mesh = await Mesh.start();
  const probe = new Probe();
  try {
    const [a, b] = await mesh.instances(probe, 2, 1);
    const client = await mesh.caller(probe, 2);
    const app = createGatewayApp({
      generate: (body, ctx) =>
        client.generate(
          body,
          {
            requestId: ctx.requestId,
            deadline: ctx.deadline,
            signal: ctx.signal,
          } satisfies CallOptions,
        ),
      health: () => ({ instances: client.instanceIds() }),
      ready: () => true,
      requestTimeoutMs: WAIT_MS,
    });
    const post = () =>
      app.request("/generate", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ prompt: "hi" }),
      });

    const held = [
      ...await holdOn(probe, client, a!, 1),
      ...await holdOn(probe, client, b!, 1),
    ];
    const started = performance.now();
    const response = await post();
    const elapsed = performance.now() - started;
    const body = await response.json();
    assert.equal(response.status, 503, JSON.stringify(body));
    assert.equal(response.headers.get("retry-after"), "1");
    assert.equal(body.error.code, "busy");
    assert.equal(body.error.retryable, true);
    assert.ok(elapsed < 1000, `503 took ${elapsed} ms`);

    probe.release();
    const answers = await Promise.all(held);
    assert.deepEqual(answers.map((answer) => answer.instance), [a, b]);
    const ok = await post();
    assert.equal(ok.status, 200);
    assert.ok([a, b].includes((await ok.json()).instance));
    figures(`gateway all busy: 503, Retry-After 1, in ${elapsed.toFixed(1)} ms`);
  } finally {
    probe.release();
  }
});

Deno.test("max_inflight holds for callers in the same process too (prefer_local)", async () => {
  await using mesh = await Mesh.start();
  const probe = new Probe();
  try {
    // The seed's node 1, or any embedded-mode deployment: the caller hosts the instances itself,
    // so every call takes Actor.dispatchLocal, not the bus.
    const runtime = await mesh.node("node1");
    const [a, b] = (await runtime.serve(probe.component, { instances: 2, maxInflight: 1 }))
      .map((actor) => actor.id);
    const client = runtime.client(probe.component);
    await client.waitForInstances(2, { timeoutMs: WAIT_MS });

    const heldA = await holdOn(probe, client, a!, 1);
    const answers: ProbeAnswer[] = [];
    for (let i = 0; i < 4; i++) answers.push(await one(client.generate({})));
    for (const answer of answers) assert.equal(answer.instance, b, "A is at its limit");
    assert.equal(probe.entered(a!), 1, "A's handler saw only the held call");

    const heldB = await holdOn(probe, client, b!, 1);
    const outcome = await one(client.generate({})).catch((error: unknown) => error);
    assert.ok(
      outcome instanceof MeshError && outcome.code === "busy" && outcome.retryable,
      `expected a busy error, got ${JSON.stringify(outcome)}; the handlers were entered ${
        probe.entered(a!) + probe.entered(b!)
      } times`,
    );
    await releaseAll(probe, heldA, a!);
    await releaseAll(probe, heldB, b!);
  } finally {
    probe.release();
  }
});

// --- Calls to instances in the caller's own process count as in flight too -------------------

Deno.test("least_loaded counts calls in flight to in-process instances too", async () => {
  await using mesh = await Mesh.start();
  const probe = new Probe();
  try {
    // Embedded mode (and node 1 of the seed) routes to in-process instances only.
    const runtime = await mesh.node("node1");
    const actors = await runtime.serve(probe.component, { instances: 3 });
    const [a, b, c] = actors.map((actor) => actor.id);
    const client = runtime.client(probe.component);
    await client.waitForInstances(3, { timeoutMs: WAIT_MS });

    const held = await holdOn(probe, client, a!, 5);
    const answers: ProbeAnswer[] = [];
    for (let i = 0; i < 20; i++) {
      answers.push(await one(client.generate({}, { policy: "least_loaded" })));
    }
    const counts = tally(answers.map((answer) => answer.instance));
    const names = new Map([[a!, "A"], [b!, "B"], [c!, "C"]]);
    // Expected: none to A. Actually: the local path is not counted, so A gets its turns.
    assert.equal(counts.get(a!), undefined, `A holding 5 still got calls: ${show(counts, names)}`);
    await releaseAll(probe, held, a!);
  } finally {
    probe.release();
  }
});
