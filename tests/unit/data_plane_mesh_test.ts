/**
 * The data plane wired into the mesh, on the embedded planes: seed 002's encoder/decoder across
 * three runtimes with a `MemoryDataPlane` handle each (`tests/data_plane_mesh_cases.ts`); `ctx.data`
 * made only when a handler uses it; the `data_plane:` config section and its variables; and
 * `serve` with configs/encoder_decoder.yaml over HTTP, where `data_plane.threshold` decides what
 * travels by descriptor.
 */

import assert from "node:assert/strict";
import { component } from "../../actors/component.ts";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { MemoryDataPlane } from "../../planes/memory/memory_data_plane.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { MemoryWorkQueue } from "../../planes/memory/memory_work_queue.ts";
import type { DataPlane } from "../../planes/data_plane.ts";
import { Runtime } from "../../runtime/runtime.ts";
import { connectPlanes } from "../../runtime/planes_preset.ts";
import { dataPlaneSettings } from "../../runtime/start_mesh.ts";
import { parseConfigText } from "../../configs/yaml_document.ts";
import { resolveConfig } from "../../configs/resolve.ts";
import { ConfigError } from "../../configs/config_error.ts";
import { serve } from "../../bin/serve.ts";
import { inlineTensor } from "../../examples/encoder_decoder/tensor_json.ts";
import { randomTensor } from "../../protocol/tensor.ts";
import { seededRandom } from "../../utils/random.ts";
import { type DataCluster, dataPlaneMeshCases } from "../data_plane_mesh_cases.ts";

function embedded(): Promise<DataCluster> {
  const bus = new MemoryBus();
  const registry = new MemoryRegistry();
  const queue = new MemoryWorkQueue();
  const opened: { runtime: Runtime; plane: DataPlane }[] = [];
  return Promise.resolve({
    runtime: (hostname: string) => {
      const plane = new MemoryDataPlane();
      const runtime = new Runtime({
        bus: opened.length ? bus.connection() : bus,
        registry,
        namespace: "dp",
        hostname,
        workQueue: queue.connection(),
        dataPlane: plane,
      });
      opened.push({ runtime, plane });
      return Promise.resolve(runtime);
    },
    deadHolder: () => Promise.resolve("127.0.0.1:9"),
    async [Symbol.asyncDispose]() {
      for (const { runtime, plane } of opened.reverse()) {
        await runtime.shutdown(100);
        await plane.close();
        await runtime.bus.close();
      }
      await queue.close();
      await registry.close();
    },
  });
}

dataPlaneMeshCases("embedded", embedded, { largeBytes: 4 * 1024 * 1024 });

Deno.test("ctx.data is made on first use: a handler that never touches it makes no data plane", async () => {
  let made = 0;
  const runtime = new Runtime({
    bus: new MemoryBus(),
    registry: new MemoryRegistry(),
    namespace: "dp",
    dataPlane: () => (made++, new MemoryDataPlane()),
    dataThreshold: 1234,
  });
  try {
    const Plain = component({ name: "Plain", endpoints: { generate: (r: unknown) => r } });
    const User = component({
      name: "User",
      endpoints: {
        async generate(request: { text: string }, ctx) {
          const descriptor = ctx.data.put(new TextEncoder().encode(request.text));
          const back = await ctx.data.pull(descriptor);
          return { threshold: ctx.data.threshold, text: new TextDecoder().decode(back) };
        },
      },
    });
    await runtime.serve(Plain);
    await runtime.serve(User);
    for await (const _ of runtime.client(Plain).generate({ x: 1 })) { /* drain */ }
    assert.equal(made, 0);
    const answers: unknown[] = [];
    for await (const chunk of runtime.client(User).generate({ text: "hi" })) answers.push(chunk);
    assert.deepEqual(answers, [{ threshold: 1234, text: "hi" }]);
    assert.equal(made, 1);
    assert.equal(runtime.dataPlane().stats().pulls, 1);
  } finally {
    await runtime.shutdown(100);
    await runtime.dataPlane().close();
    await runtime.bus.close();
    await runtime.registry.close();
  }
});

Deno.test("the planes preset makes the data plane on first use: in-process when embedded", async () => {
  const planes = await connectPlanes({ dataPlane: { ttlMs: 5000 } });
  try {
    const plane = planes.dataPlane();
    assert.equal(plane, planes.dataPlane());
    assert.equal(plane.kind, "embedded");
    assert.equal(plane.address, "in-process");
  } finally {
    await planes.close();
  }
});

Deno.test("data_plane: keys are read, MESH_DATA_* beat them, mistakes name file, line and key", () => {
  const text = [
    "namespace: ns",
    "data_plane:",
    "  host: 127.0.0.1",
    "  port: 7001",
    "  advertise: 10.0.0.2",
    '  secret: "file-secret"',
    "  threshold: 1048576",
    "  ttl_s: 2.5",
    "",
  ].join("\n");
  const config = resolveConfig(parseConfigText(text, "x.yaml"), {});
  assert.deepEqual(config.dataPlane, {
    host: "127.0.0.1",
    port: 7001,
    advertise: "10.0.0.2",
    secret: "file-secret",
    threshold: 1048576,
    ttlS: 2.5,
  });
  assert.deepEqual(dataPlaneSettings(config.dataPlane), {
    host: "127.0.0.1",
    port: 7001,
    advertise: "10.0.0.2",
    secret: "file-secret",
    ttlMs: 2500,
  });
  const env = { MESH_DATA_SECRET: "env-secret", MESH_DATA_ADVERTISE: "node1.example" };
  const fromEnv = resolveConfig(parseConfigText(text, "x.yaml"), {}, { env });
  assert.equal(fromEnv.dataPlane?.secret, "env-secret");
  assert.equal(fromEnv.dataPlane?.advertise, "node1.example");
  assert.deepEqual(
    resolveConfig(parseConfigText("namespace: ns\n", "x.yaml"), {}, { env })
      .dataPlane,
    { secret: "env-secret", advertise: "node1.example" },
  );
  assert.equal(
    resolveConfig(parseConfigText("namespace: ns\n", "x.yaml"), {}).dataPlane,
    undefined,
  );

  const cases: [string, string, string][] = [
    [
      "  port: 7001",
      "  port: 70000",
      "x.yaml:4:9: data_plane.port: expected an integer between 0 and 65535, got 70000",
    ],
    [
      "  threshold: 1048576",
      "  threshold: -1",
      "x.yaml:7:14: data_plane.threshold: expected an integer between 0 and 1073741824, got -1",
    ],
    [
      "  ttl_s: 2.5",
      "  ttl_s: 0",
      "x.yaml:8:10: data_plane.ttl_s: expected a number between 0.001 and 86400, got 0",
    ],
    [
      "  host: 127.0.0.1",
      "  host: ''",
      'x.yaml:3:9: data_plane.host: expected a host name or IP address, got ""',
    ],
    [
      '  secret: "file-secret"',
      "  secret: 1234",
      "x.yaml:6:11: data_plane.secret: expected a non-empty string, got a number (put it in quotes)",
    ],
    [
      "  ttl_s: 2.5",
      "  ttl: 2.5",
      'x.yaml:8:3: unknown key "data_plane.ttl"; expected one of host, port, advertise, secret, threshold, ttl_s',
    ],
    [
      "data_plane:\n  host: 127.0.0.1",
      "data_plane: 3\nx:\n  host: 127.0.0.1",
      "x.yaml:2:13: data_plane: expected a mapping of host, port, advertise, secret, threshold, ttl_s, got 3",
    ],
  ];
  for (const [from, to, message] of cases) {
    assert.ok(text.includes(from), from);
    assert.throws(
      () => parseConfigText(text.replace(from, to), "x.yaml"),
      (e: Error) => (e instanceof ConfigError && e.message === message) || assert.fail(e.message),
    );
  }
});

const CONFIG = new URL("../../configs/encoder_decoder.yaml", import.meta.url).pathname;

Deno.test("serve configs/encoder_decoder.yaml: data_plane.threshold decides what travels by descriptor", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshwork-dp-" });
  const original = await Deno.readTextFile(CONFIG);
  const graph = new URL("../../examples/encoder_decoder/graph.ts", import.meta.url).pathname;
  const size = 256 * 1024;
  const body = JSON.stringify(inlineTensor(randomTensor(size, "float32", seededRandom(9))));
  try {
    for (const threshold of [65536, 1048576]) {
      const path = `${dir}/ed_${threshold}.yaml`;
      await Deno.writeTextFile(
        path,
        original.replace(/^graph: .*$/m, `graph: ${graph}`)
          .replace(/^ {2}threshold: \d+/m, `  threshold: ${threshold}`),
      );
      const mesh = await serve({
        configPath: path,
        overrides: ["--encoder_decoder.port=0", "--encoder_decoder.host=127.0.0.1"],
        env: {},
        logLevel: "error",
        graceMs: 1000,
      });
      try {
        const response = await fetch(`http://127.0.0.1:${mesh.gateway!.port}/generate`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
          body,
        });
        assert.equal(response.status, 200);
        assert.equal(await response.text(), body);
        // One process, one plane: ed put the input, the encoder pulled it and put its output,
        // the decoder pulled that and put its own, ed pulled it back to answer inline.
        const stats = mesh.runtime.dataPlane().stats();
        assert.deepEqual(
          { pulls: stats.pulls, bytesPulled: stats.bytesPulled, held: stats.held },
          threshold < size
            ? { pulls: 3, bytesPulled: 3 * size, held: 0 }
            : { pulls: 0, bytesPulled: 0, held: 0 },
        );
      } finally {
        await mesh.stop();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
