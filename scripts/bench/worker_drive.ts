/**
 * One Worker process's CPU per request when driven at full rate: this process is only a client
 * (its own CPU is not counted); `--pids` names the worker processes whose `utime + stime` it reads
 * from `/proc` around each round. For telling a worker's cost per message from its cost per
 * wake-up at the bench's lower rate. Start nats-server, etcd and `deno task worker`, then:
 * `deno run -A scripts/bench/worker_drive.ts --nats URL --etcd URL --pids PID[,PID] [--requests N]`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { connectNatsBus } from "../../planes/nats/connect.ts";
import { connectEtcdRegistry } from "../../planes/etcd/etcd_registry.ts";
import { Runtime } from "../../runtime/runtime.ts";
import { silentLogger } from "../../utils/logger.ts";
import helloWorld, { Worker } from "../../examples/hello_world/graph.ts";
import { clockTicks, cpuTicks } from "./proc.ts";

const { values } = parseArgs({
  options: {
    nats: { type: "string", default: "nats://127.0.0.1:4222" },
    etcd: { type: "string", default: "http://127.0.0.1:2379" },
    pids: { type: "string" },
    requests: { type: "string", default: "100000" },
    concurrency: { type: "string", default: "32" },
    rounds: { type: "string", default: "3" },
  },
});
if (!values.pids) {
  console.error("worker_drive: --pids PID[,PID] (the worker processes to measure) is required");
  Deno.exit(2);
}
const pids = values.pids.split(",").map(Number);
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);

const runtime = new Runtime({
  bus: await connectNatsBus({ servers: values.nats }),
  registry: await connectEtcdRegistry({ endpoints: values.etcd }),
  namespace: helloWorld.namespace,
  hostname: "worker-drive",
  logger: silentLogger,
});
const workers = runtime.client(Worker);
await workers.waitForInstances(pids.length);
const ticks = () => pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
const tickUs = 1_000_000 / clockTicks();

async function run(n: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        for await (const _ of workers.generate({ prompt: "test prompt_ProcessedBy_drive" })) {
          // one chunk
        }
      }
    }),
  );
}

await run(Math.min(10_000, requests)); // warm-up
for (let round = 0; round < Number(values.rounds); round++) {
  const before = ticks();
  const t0 = performance.now();
  await run(requests);
  const seconds = (performance.now() - t0) / 1000;
  const us = (ticks() - before) * tickUs / requests;
  console.log(
    `worker_drive: ${us.toFixed(1)} µs of worker CPU per request at ${
      Math.round(requests / seconds)
    } requests/s (${pids.length} worker process(es), concurrency ${concurrency})`,
  );
}
await runtime.shutdown(100);
await runtime.bus.close();
