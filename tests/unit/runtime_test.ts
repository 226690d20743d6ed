import assert from "node:assert/strict";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { Runtime } from "../../runtime/runtime.ts";
import { component } from "../../actors/component.ts";
import { MeshError } from "../../protocol/errors.ts";
import helloWorld, { Frontend, Processor, Worker } from "../../examples/hello_world/graph.ts";

/** Several "processes" (runtimes, each with its own hostname) on one in-process plane. */
function plane() {
  const bus = new MemoryBus();
  const registry = new MemoryRegistry();
  const runtimes: Runtime[] = [];
  return {
    runtime(hostname: string, options: Partial<ConstructorParameters<typeof Runtime>[0]> = {}) {
      const runtime = new Runtime({
        bus: runtimes.length === 0 ? bus : bus.connection(),
        registry,
        namespace: helloWorld.namespace,
        hostname,
        ...options,
      });
      runtimes.push(runtime);
      return runtime;
    },
    async [Symbol.asyncDispose]() {
      for (const runtime of runtimes.reverse()) {
        await runtime.shutdown(100);
        await runtime.bus.close();
      }
      await registry.close();
    },
  };
}

async function collect(stream: AsyncIterable<unknown>): Promise<unknown[]> {
  const chunks: unknown[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

const processorConfig = { router: "round_robin", min_workers: 2, wait_ms: 5000 };

Deno.test("hello world answers through Frontend, Processor and Workers on other hosts, round robin", async () => {
  await using mesh = plane();
  const node1 = mesh.runtime("node1");
  const node2 = mesh.runtime("node2");
  const node3 = mesh.runtime("node3");
  await node2.serve(Worker, { config: { delay_ms: 0 } });
  await node3.serve(Worker, { config: { delay_ms: 0 } });
  await node1.serve(Processor, { config: processorConfig });
  await node1.serve(Frontend, { config: {} });
  const frontend = node1.client(Frontend);
  const outputs: unknown[] = [];
  for (let i = 0; i < 4; i++) {
    outputs.push(
      ...await collect(frontend.generate({ prompt: "test prompt", request_id: "id_number" })),
    );
  }
  const [first, second] = outputs as { worker_output: string }[];
  assert.notEqual(first!.worker_output, second!.worker_output);
  assert.deepEqual(outputs.slice(2), outputs.slice(0, 2));
  assert.deepEqual(
    new Set(outputs.map((o) => (o as { worker_output: string }).worker_output)),
    new Set([
      "test prompt_ProcessedBy_node1_GeneratedBy_node2",
      "test prompt_ProcessedBy_node1_GeneratedBy_node3",
    ]),
  );
  assert.deepEqual((outputs[0] as { request_id: string }).request_id, "id_number");
});

Deno.test("a worker whose connection dies is skipped: the next requests all succeed", async () => {
  await using mesh = plane();
  const node1 = mesh.runtime("node1");
  const node2 = mesh.runtime("node2");
  const node3 = mesh.runtime("node3", { leaseTtlSeconds: 60 });
  await node2.serve(Worker, { config: { delay_ms: 0 } });
  await node3.serve(Worker, { config: { delay_ms: 0 } });
  await node1.serve(Processor, { config: processorConfig });
  const processor = node1.client(Processor);
  await collect(processor.generate({ prompt: "warm" }));
  // Like kill -9: the connection goes, the registry key stays until its lease expires.
  await node3.bus.close();
  for (let i = 0; i < 20; i++) {
    const [output] = await collect(processor.generate({ prompt: `p${i}` }));
    assert.equal(output, `p${i}_ProcessedBy_node1_GeneratedBy_node2`);
  }
});

Deno.test("a handler's error reaches the caller with its code", async () => {
  await using mesh = plane();
  const node1 = mesh.runtime("node1");
  const node2 = mesh.runtime("node2");
  await node2.serve(Worker, { config: { delay_ms: 0 } });
  const worker = node1.client(Worker);
  await assert.rejects(
    collect(worker.generate({ nope: 1 })),
    (error) => error instanceof MeshError && error.code === "bad_request",
  );
});

Deno.test("cancelling a remote stream aborts the handler's signal", async () => {
  await using mesh = plane();
  const node1 = mesh.runtime("node1");
  const node2 = mesh.runtime("node2");
  let aborted!: () => void;
  const sawAbort = new Promise<void>((resolve) => (aborted = resolve));
  const Ticker = component({
    name: "Ticker",
    endpoints: {
      async *generate(_request: unknown, ctx) {
        ctx.signal.addEventListener("abort", () => aborted(), { once: true });
        for (let i = 0; !ctx.signal.aborted; i++) {
          yield i;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      },
    },
  });
  await node2.serve(Ticker);
  const controller = new AbortController();
  const seen: unknown[] = [];
  await assert.rejects(
    (async () => {
      for await (const chunk of node1.client(Ticker).generate({}, { signal: controller.signal })) {
        seen.push(chunk);
        if (seen.length === 3) controller.abort();
      }
    })(),
    (error) => error instanceof MeshError && error.code === "cancelled",
  );
  await sawAbort;
  assert.deepEqual(seen, [0, 1, 2]);
});

Deno.test("no instances within the wait is a no_instances error", async () => {
  await using mesh = plane();
  const node1 = mesh.runtime("node1", { clientDefaults: { waitMs: 50 } });
  await assert.rejects(
    collect(node1.client(Worker).generate({ prompt: "x" })),
    (error) => error instanceof MeshError && error.code === "no_instances",
  );
});
