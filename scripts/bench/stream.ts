/**
 * Stream throughput: seed 001's Backend (`sleep_time: 0`) answers one request of `--chunks` words
 * with one line per word; the caller reads them all. With `--nats URL` the Backend runs on a
 * second NATS connection (the lines cross a real nats-server); otherwise on the embedded planes.
 * Prints chunks per second (`deno run -A scripts/bench/stream.ts --nats nats://127.0.0.1:4222`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { connectNatsBus } from "../../planes/nats/connect.ts";
import { Runtime } from "../../runtime/runtime.ts";
import { Backend } from "../../examples/simple_pipeline/backend.ts";
import { silentLogger } from "../../utils/logger.ts";

const { values } = parseArgs({
  options: {
    chunks: { type: "string", default: "20000" },
    rounds: { type: "string", default: "5" },
    nats: { type: "string" },
  },
});
const chunks = Number(values.chunks);
const registry = new MemoryRegistry();
const memoryBus = new MemoryBus();
const bus = () => values.nats ? connectNatsBus({ servers: values.nats }) : memoryBus;
const options = { registry, namespace: "stream_bench", logger: silentLogger };
const caller = new Runtime({ ...options, bus: await bus(), hostname: "caller" });
const server = new Runtime({ ...options, bus: await bus(), hostname: "server" });
await server.serve(Backend, { config: { greeting: "Hello", sleep_time: 0 } });
const client = caller.client(Backend);
await client.waitForInstances(1, { quiet: true });
const text = Array.from({ length: chunks }, (_, i) => `w${i}`).join(",");

for (let round = 0; round < Number(values.rounds); round++) {
  const started = performance.now();
  let received = 0;
  for await (const line of client.generate(text, { timeoutMs: 60_000 } as never)) {
    if (line !== `Hello w${received}!`) throw new Error(`chunk ${received} is ${line}`);
    received++;
  }
  const seconds = (performance.now() - started) / 1000;
  if (received !== chunks) throw new Error(`received ${received} of ${chunks}`);
  console.log(
    `stream: ${chunks} chunks in ${seconds.toFixed(3)} s, ${
      Math.round(chunks / seconds)
    } chunks/s (${values.nats ? "NATS" : "embedded"})`,
  );
}
await caller.shutdown(100);
await server.shutdown(100);
await caller.bus.close();
await server.bus.close();
