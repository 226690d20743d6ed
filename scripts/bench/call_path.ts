/**
 * The cost of one in-process call through the mesh, without HTTP: the hello-world graph (Frontend,
 * Processor, 2 Workers) on the embedded planes in this process, called `--requests` times with
 * `--concurrency` in flight. Prints CPU µs and wall µs per request, for comparing changes to the
 * call path (`deno run -A scripts/bench/call_path.ts`). With `--nats URL` the Workers run on a
 * second NATS connection, so the Processor → Worker hop crosses a real nats-server (CPU then
 * counts both sides, not the server); with `--memory-bus` they run on a second runtime on the
 * same in-process bus, so that hop goes through the whole wire path (envelope, reply frames,
 * reply inbox) without sockets. `--workers N` starts N Worker instances (routing cost
 * should not grow with N); `--router POLICY` is the Processor's policy (default `round_robin`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { connectNatsBus } from "../../planes/nats/connect.ts";
import { Runtime } from "../../runtime/runtime.ts";
import helloWorld, { Frontend, Processor, Worker } from "../../examples/hello_world/graph.ts";
import { silentLogger } from "../../utils/logger.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "200000" },
    concurrency: { type: "string", default: "32" },
    rounds: { type: "string", default: "3" },
    nats: { type: "string" },
    workers: { type: "string", default: "2" },
    router: { type: "string", default: "round_robin" },
    "memory-bus": { type: "boolean" },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);

const registry = new MemoryRegistry();
const memoryBus = new MemoryBus();
const bus = () => values.nats ? connectNatsBus({ servers: values.nats }) : memoryBus;
const runtime = new Runtime({
  bus: await bus(),
  registry,
  namespace: helloWorld.namespace,
  hostname: "bench",
  logger: silentLogger,
});
const workers = values.nats || values["memory-bus"]
  ? new Runtime({
    bus: await bus(),
    registry,
    namespace: helloWorld.namespace,
    hostname: "bench-workers",
    logger: silentLogger,
  })
  : runtime;
await workers.serve(Worker, { config: { delay_ms: 0 }, instances: Number(values.workers) });
await runtime.serve(Processor, {
  config: { router: values.router, min_workers: 2, wait_ms: 5000 },
});
await runtime.serve(Frontend, { config: {} });
const frontend = runtime.client(Frontend);
const body = { prompt: "test prompt", request_id: "id_number" };

async function once(): Promise<void> {
  let chunks = 0;
  for await (const _ of frontend.generate(body)) chunks++;
  if (chunks !== 1) throw new Error(`expected one chunk, got ${chunks}`);
}

async function run(n: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) await once();
    }),
  );
}

await run(Math.min(20_000, requests)); // warm-up
for (let round = 0; round < Number(values.rounds); round++) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run(requests);
  const wall = (performance.now() - t0) * 1000 / requests;
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `call path: ${((cpu.user + cpu.system) / requests).toFixed(2)} µs CPU, ${
      wall.toFixed(2)
    } µs wall per request (${requests} requests, concurrency ${concurrency}, ${values.workers} Workers)`,
  );
}
await runtime.shutdown(100);
if (workers !== runtime) await workers.shutdown(100);
await runtime.bus.close();
await workers.bus.close();
