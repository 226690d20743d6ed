/**
 * The work-queue request plane against its baselines, on a real `nats-server -js` started here:
 *
 * - core: a mesh call to an ordinary instance (core NATS request/reply through the mesh);
 * - queue: the same call to a queue-served component (`work_queue` policy, JetStream stream,
 *   acknowledged after the answer);
 * - bare JetStream: a hand-written loop with `@nats-io/jetstream` doing the same job (publish the
 *   request to a work-queue stream with a reply subject, a pull consumer answers and acks).
 *
 * Interleaved (core, queue, bare, bare, queue, core) so that the machine's drift cancels; each
 * run sends `--requests` requests with `--concurrency` in flight. Prints req/s and the ratios the
 * issue asks for: queue ÷ bare JetStream (goal ≥ 0.5) and queue ÷ core.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, createInbox, headers } from "@nats-io/transport-node";
import { component } from "../../actors/component.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { connectNatsBus } from "../../planes/nats/connect.ts";
import { jetStreamWorkQueueOn } from "../../planes/nats/jetstream_work_queue.ts";
import type { NatsBus } from "../../planes/nats/nats_bus.ts";
import { Runtime } from "../../runtime/runtime.ts";
import { silentLogger } from "../../utils/logger.ts";
import { startNatsServer } from "../../tests/helpers/nats_server.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "5000" },
    concurrency: { type: "string", default: "32" },
  },
});
const requests = Math.max(100, Number(values.requests) || 5000);
const concurrency = Math.max(1, Number(values.concurrency) || 32);

const store = await Deno.makeTempDir({ prefix: "meshwork-bench-js-" });
await using nats = await startNatsServer({ args: ["-js", "-sd", store] });
const registry = new MemoryRegistry();
const namespace = "queue_bench";

async function runtime(hostname: string): Promise<Runtime> {
  const bus = await connectNatsBus({ servers: nats.url });
  return new Runtime({
    bus,
    registry,
    namespace,
    hostname,
    logger: silentLogger,
    workQueue: () => jetStreamWorkQueueOn(bus as NatsBus, false, silentLogger),
  });
}

const echo = (name: string) =>
  component({
    name,
    endpoints: { generate: (request: { prompt: string }) => `${request.prompt}_done` },
  });
const Core = echo("Core");
const Queued = echo("Queued");
const server = await runtime("server");
const caller = await runtime("caller");
await server.serve(Core);
await server.serve(Queued, {
  queue: { maxInflight: concurrency, maxDeliver: 3, ackWaitMs: 30_000 },
});
const core = caller.client(Core);
const queued = caller.client(Queued, { policy: "work_queue" });
await core.waitForInstances(1, { quiet: true });

// The bare JetStream loop: one stream and one pull consumer, answers over core NATS.
const bareServer = await connect({ servers: nats.url });
const bareCaller = await connect({ servers: nats.url });
const jsm = await jetstreamManager(bareServer);
await jsm.streams.add({ name: "BARE", subjects: ["bare.jobs"], retention: "workqueue" as never });
await jsm.consumers.add("BARE", { durable_name: "workers", ack_policy: "explicit" as never });
const consumer = await jetstream(bareServer).consumers.get("BARE", "workers");
const messages = await consumer.consume({ max_messages: concurrency });
const text = new TextDecoder();
const bytes = new TextEncoder();
(async () => {
  for await (const message of messages) {
    const request = JSON.parse(text.decode(message.data)) as { prompt: string };
    bareServer.publish(
      message.headers!.get("Reply"),
      bytes.encode(JSON.stringify(`${request.prompt}_done`)),
    );
    message.ack();
  }
})();
const bareJs = jetstream(bareCaller);
const inbox = createInbox();
const waiting = new Map<string, () => void>();
bareCaller.subscribe(`${inbox}.*`, {
  callback: (_error, message) => waiting.get(message.subject)?.(),
});
let sequence = 0;
async function bareCall(): Promise<void> {
  const reply = `${inbox}.${sequence++}`;
  const answered = new Promise<void>((resolve) => waiting.set(reply, resolve));
  const h = headers();
  h.set("Reply", reply);
  await bareJs.publish("bare.jobs", bytes.encode(JSON.stringify({ prompt: "p" })), { headers: h });
  await answered;
  waiting.delete(reply);
}

async function meshCall(client: typeof core): Promise<void> {
  for await (const chunk of client.generate({ prompt: "p" })) {
    if (chunk !== "p_done") throw new Error(`unexpected answer ${JSON.stringify(chunk)}`);
  }
}

async function rate(call: () => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < requests) await call();
    }),
  );
  return requests / ((performance.now() - started) / 1000);
}

const sides = {
  core: () => meshCall(core),
  queue: () => meshCall(queued),
  bare: bareCall,
};
for (const call of Object.values(sides)) await rate(call); // warm-up
const totals = { core: 0, queue: 0, bare: 0 };
for (const side of ["core", "queue", "bare", "bare", "queue", "core"] as const) {
  totals[side] += (await rate(sides[side])) / 2;
}
const fmt = (n: number) => Math.round(n).toLocaleString("en");
console.log(
  `work queue: ${requests} requests per run, concurrency ${concurrency}, nats-server -js`,
);
console.log(`| side | req/s |`);
console.log(`|---|---:|`);
console.log(`| mesh, core NATS request/reply | ${fmt(totals.core)} |`);
console.log(`| mesh, durable work queue | ${fmt(totals.queue)} |`);
console.log(`| bare JetStream pull loop | ${fmt(totals.bare)} |`);
console.log(
  `queue ÷ bare JetStream: ${(totals.queue / totals.bare).toFixed(2)} (goal ≥ 0.5); ` +
    `queue ÷ core: ${(totals.queue / totals.core).toFixed(2)}`,
);

messages.stop();
await bareServer.close();
await bareCaller.close();
await caller.shutdown(100);
await server.shutdown(100);
await caller.bus.close();
await server.bus.close();
await registry.close();
await Deno.remove(store, { recursive: true }).catch(() => {});
