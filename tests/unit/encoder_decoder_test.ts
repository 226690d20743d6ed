/**
 * Seed 002's encoder/decoder (`examples/encoder_decoder/`, `configs/encoder_decoder.yaml`) on the
 * embedded planes, through `serve()` and a real socket: the answer equals the request for several
 * dtypes and sizes, `input_copies` and `delay` do what they say, bad input is a 400, bad config
 * values are positioned errors; and the client's `--tensor` mode against it.
 */

import assert from "node:assert/strict";
import { type RunningMesh, serve } from "../../bin/serve.ts";
import { graphSchemas } from "../../bin/serve.ts";
import { main as clientMain } from "../../bin/client.ts";
import { formatWorker } from "../../bin/worker_banner.ts";
import { resolveConfig } from "../../configs/resolve.ts";
import { parseConfigText } from "../../configs/yaml_document.ts";
import { ConfigError } from "../../configs/config_error.ts";
import edGraph, { encoder } from "../../examples/encoder_decoder/graph.ts";
import { decodeCopies, encodeCopies } from "../../examples/encoder_decoder/codec.ts";
import { inlineTensor, unpackTensor } from "../../examples/encoder_decoder/tensor_json.ts";
import { DTYPES, randomTensor } from "../../protocol/tensor.ts";
import { seededRandom } from "../../utils/random.ts";
import type { WorkerDescription } from "../../runtime/worker_description.ts";

const CONFIG = new URL("../../configs/encoder_decoder.yaml", import.meta.url).pathname;

async function start(overrides: string[] = []): Promise<RunningMesh & { url: string }> {
  const workers: WorkerDescription[] = [];
  const mesh = await serve({
    configPath: CONFIG,
    overrides: ["--encoder_decoder.port=0", "--encoder_decoder.host=127.0.0.1", ...overrides],
    env: {},
    logLevel: "error",
    graceMs: 1000,
    onWorker: (w) => workers.push(w),
  });
  assert.deepEqual(workers.map((w) => w.name), ["encoder.0", "decoder.0", "encoder_decoder.0"]);
  return Object.assign(mesh, { url: `http://127.0.0.1:${mesh.gateway!.port}/generate` });
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(body),
  });
}

Deno.test("encode then decode is the identity, byte for byte, for every dtype and several sizes", () => {
  const random = seededRandom(7);
  for (const dtype of DTYPES) {
    for (const size of [0, 1, 7, 64, 4099]) {
      const t = randomTensor(size, dtype, random);
      for (const copies of [1, 3]) {
        const back = decodeCopies(encodeCopies(t, copies));
        assert.equal(back.dtype, dtype);
        assert.deepEqual(back.shape, t.shape);
        assert.deepEqual(inlineTensor(back), inlineTensor(t), `${dtype} ${size} B x${copies}`);
      }
    }
  }
});

Deno.test("inlineTensor and unpackTensor round-trip; malformed tensors are bad requests", async () => {
  const t = randomTensor(24, "float64", seededRandom(1));
  assert.deepEqual(
    inlineTensor(await unpackTensor(JSON.parse(JSON.stringify(inlineTensor(t))))),
    inlineTensor(t),
  );
  const bad: [unknown, RegExp][] = [
    [{}, /Field "tensor" is required/],
    [{ tensor: { dtype: "complex", shape: [1], data: "" } }, /tensor.dtype" must be one of/],
    [{ tensor: { dtype: "uint8", shape: [-1], data: "" } }, /tensor.shape" must be a list/],
    [{ tensor: { dtype: "uint8", shape: [1], data: "!!" } }, /must be base64/],
    [{ tensor: { dtype: "int32", shape: [2], data: "AAAA" } }, /holds 3 bytes.*needs 8/],
  ];
  for (const [message, pattern] of bad) {
    await assert.rejects(unpackTensor(message), (e: Error & { code?: string }) => {
      assert.equal(e.code, "bad_request");
      assert.match(e.message, pattern);
      return true;
    });
  }
});

Deno.test("POST /generate answers the request's own tensor for several dtypes and sizes", async () => {
  const mesh = await start();
  try {
    const random = seededRandom(42);
    for (
      const [dtype, size] of [["float32", 1024], ["uint8", 3], ["int16", 10_000], [
        "float64",
        0,
      ]] as const
    ) {
      const sent = inlineTensor(randomTensor(size, dtype, random));
      const response = await post(mesh.url, sent);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), sent);
    }
    const bad = await post(mesh.url, { prompt: "hi" });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /Field \\"tensor\\" is required|Field "tensor" is required/);
    const badData = await post(mesh.url, { tensor: { dtype: "uint8", shape: [2], data: "AA==" } });
    assert.equal(badData.status, 400);
  } finally {
    await mesh.stop();
  }
});

Deno.test("the encoder makes input_copies inverted copies on a new leading axis", async () => {
  const mesh = await start(["--encoder.input_copies=3"]);
  try {
    const client = mesh.runtime.client(encoder);
    const chunks: unknown[] = [];
    const input = { dtype: "uint8" as const, shape: [4], data: new Uint8Array([0, 1, 2, 255]) };
    for await (const chunk of client.generate(inlineTensor(input))) chunks.push(chunk);
    const out = await unpackTensor(chunks[0]);
    assert.deepEqual(out.shape, [3, 4]);
    assert.deepEqual([...out.data as Uint8Array], [
      255,
      254,
      253,
      0,
      255,
      254,
      253,
      0,
      255,
      254,
      253,
      0,
    ]);
    // ... and the whole graph still answers the input.
    const response = await post(mesh.url, inlineTensor(input));
    assert.deepEqual(await response.json(), inlineTensor(input));
  } finally {
    await mesh.stop();
  }
});

Deno.test("delay × size: encoder and decoder each wait delay seconds per output element", async () => {
  // 100 elements × 1 ms, in the encoder and again in the decoder: at least 200 ms in all.
  const mesh = await start(["--encoder.delay=0.001", "--decoder.delay=0.001"]);
  try {
    const sent = inlineTensor(randomTensor(100, "uint8", seededRandom(3)));
    const began = performance.now();
    const response = await post(mesh.url, sent);
    assert.deepEqual(await response.json(), sent);
    const took = performance.now() - began;
    assert.ok(took >= 195, `answered after ${took.toFixed(0)} ms, expected >= 200 ms`);
  } finally {
    await mesh.stop();
  }
});

Deno.test("bad values in configs/encoder_decoder.yaml are errors naming file, line and key", () => {
  const text = Deno.readTextFileSync(CONFIG);
  const cases: [string, string, RegExp][] = [
    [
      "input_copies: 1 #",
      "input_copies: 0 #",
      /^x\.yaml:\d+:\d+: encoder\.input_copies: expected an integer between 1 and 1024, got 0$/,
    ],
    [
      "delay: 0 #",
      "delay: -1 #",
      /^x\.yaml:\d+:\d+: encoder\.delay: expected a number between 0 and 60, got -1$/,
    ],
    [
      "max_inflight: 1\n",
      "max_inflight: many\n",
      /^x\.yaml:\d+:\d+: encoder\.ServiceArgs\.max_inflight: expected an integer >= 0, got "many"$/,
    ],
    [
      "workers: 1\n",
      "workers: 0\n",
      /^x\.yaml:\d+:\d+: encoder\.ServiceArgs\.workers: expected an integer >= 1, got 0$/,
    ],
    [
      "queue: true #",
      "queue: 3 #",
      /^x\.yaml:\d+:\d+: encoder\.ServiceArgs\.queue: expected a boolean/,
    ],
    [
      "ack_wait_s: 10 #",
      "ack_wait_s: 0 #",
      /^x\.yaml:\d+:\d+: encoder\.ServiceArgs\.ack_wait_s: expected a number >= 0\.001, got 0$/,
    ],
    [
      "processes: true",
      "processes: yes please",
      /^x\.yaml:\d+:\d+: encoder\.ServiceArgs\.processes: expected a boolean/,
    ],
    [
      "metrics_port_base: 50000",
      "metrics_port_base: 70000",
      /^x\.yaml:\d+:\d+: metrics_port_base: expected an integer between 1 and 65535, got 70000$/,
    ],
    [
      "input_copies: 1 #",
      "input_copie: 1 #",
      /^x\.yaml:\d+:\d+: unknown key "encoder\.input_copie"; expected one of input_copies, delay, ServiceArgs$/,
    ],
  ];
  const schemas = graphSchemas(edGraph);
  assert.equal(resolveConfig(parseConfigText(text, "x.yaml"), schemas).metricsPortBase, 50000);
  for (const [from, to, pattern] of cases) {
    assert.ok(text.includes(from), from);
    const changed = text.replace(from, to);
    assert.throws(
      () => resolveConfig(parseConfigText(changed, "x.yaml"), schemas),
      (e: Error) => e instanceof ConfigError && pattern.test(e.message) || assert.fail(e.message),
    );
  }
});

Deno.test("the client's --tensor mode checks every answer and ends with the Throughput line", async () => {
  const mesh = await start();
  try {
    const out: string[] = [];
    const err: string[] = [];
    const io = {
      stdout: (t: string) => out.push(t),
      stderr: (t: string) => err.push(t),
      isTerminal: false,
    };
    const code = await clientMain(
      [
        "--tensor",
        "--url",
        mesh.url,
        "--requests",
        "40",
        "--concurrency",
        "4",
        "--size",
        "2048",
        "--dtype",
        "int32",
      ],
      io,
    );
    assert.equal(code, 0, out.join("\n") + err.join("\n"));
    assert.match(out.join("\n"), /answers {6}40 ok, 0 failed/);
    assert.match(out.at(-1)!, /^Throughput: \d+(\.\d+)? Total Time: \d+(\.\d+)?$/);
    assert.match(err.at(-1)!, /^client: 40\/40 requests, [\d.]+ req\/s, 0 errors$/);
  } finally {
    await mesh.stop();
  }
});

Deno.test("the client counts an answer that differs from its request as a failure (exit 1)", async () => {
  // A server that answers a tensor, but not the one it was sent.
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const body = await req.json();
      const data = atob(body.tensor.data);
      body.tensor.data = btoa(String.fromCharCode(data.charCodeAt(0) ^ 1) + data.slice(1));
      return Response.json(body);
    },
  );
  const out: string[] = [];
  const io = { stdout: (t: string) => out.push(t), stderr: () => {}, isTerminal: false };
  const url = `http://127.0.0.1:${server.addr.port}/generate`;
  const code = await clientMain(["--tensor", "--url", url, "--requests", "5", "--size", "16"], io);
  assert.equal(code, 1);
  assert.match(out.join("\n"), /answers {6}0 ok, 5 failed/);
  assert.match(out.join("\n"), /mismatches {3}5 answers differ from their request/);
});

Deno.test("client usage errors exit 2 with one clear line", async () => {
  for (
    const [args, pattern] of [
      [["--tensor", "--size=-1"], /--size expects a whole number from 0 to 67108864, got "-1"/],
      [["--tensor", "--dtype", "complex"], /--dtype expects one of uint8, .*got "complex"/],
      [["--size", "10"], /--size and --dtype go with --tensor/],
      [["--tensor", "--body", "{}"], /--tensor makes the bodies/],
      [["--config", "a.yaml", "--url", "http://x"], /Give --url or --config, not both/],
    ] as const
  ) {
    const err: string[] = [];
    const code = await clientMain([...args], {
      stdout: () => {},
      stderr: (t) => err.push(t),
      isTerminal: false,
    });
    assert.equal(code, 2);
    assert.match(err.at(-1)!, pattern);
  }
});

Deno.test("serve describes each worker: name, where it runs, effective config; no API keys", () => {
  const text = formatWorker({
    name: "encoder_decoder.0",
    component: "encoder_decoder",
    index: 0,
    mode: "process",
    config: { port: 8000, api_keys: ["secret"] },
    serviceArgs: {
      workers: 1,
      max_inflight: 1,
      restart: "permanent",
      max_restarts: 5,
      restart_period_s: 10,
      processes: true,
      queue: false,
      max_deliver: 3,
      ack_wait_s: 10,
    },
    metricsPort: 50002,
    logFile: "/tmp/logs/encoder_decoder.0.log",
  });
  assert.equal(
    text.split("\n")[0],
    "Starting worker encoder_decoder.0 (child process, metrics port 50002, log /tmp/logs/encoder_decoder.0.log)",
  );
  assert.match(text, /config: {6}\{"port":8000,"api_keys":"\(1 key\)"\}/);
  assert.doesNotMatch(text, /secret/);
});
