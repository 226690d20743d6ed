/**
 * Seed 002's encoder/decoder with the data plane wired in, one set of cases run on the embedded
 * planes (`tests/unit/data_plane_mesh_test.ts`: in-process bus, registry, queue, one
 * `MemoryDataPlane` handle per runtime) and on real servers
 * (`tests/integration/data_plane_mesh_test.ts`: `nats-server -js`, etcd, one `TcpDataPlane` per
 * runtime on loopback). Three runtimes stand for three processes: `ed` (encoder_decoder, and the
 * caller), `enc` (encoder) and `dec` (decoder), the encoder and decoder served from the durable
 * work queue as `configs/encoder_decoder.yaml` says.
 *
 * Each runtime's data-plane counters show where the bytes went: a large tensor goes from the
 * caller's holder to the encoder, the encoder's output straight to the decoder, and only the
 * decoder's output back to the caller's process.
 */

import assert from "node:assert/strict";
import type { QueueServing } from "../actors/queue_serving.ts";
import type { DataPlane, DataPlaneStats, Descriptor } from "../planes/data_plane.ts";
import { MeshError } from "../protocol/errors.ts";
import { randomTensor, type Tensor } from "../protocol/tensor.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { decoder, encoder, encoder_decoder } from "../examples/encoder_decoder/graph.ts";
import {
  inlineTensor,
  tensorBytes,
  type TensorJson,
  type TensorRef,
} from "../examples/encoder_decoder/tensor_json.ts";
import { seededRandom } from "../utils/random.ts";
import { eventually } from "./helpers/eventually.ts";

/** Runtimes on one cluster, each with a data plane of its own (as separate processes have). */
export interface DataCluster extends AsyncDisposable {
  runtime(hostname: string): Promise<Runtime>;
  /** A holder address nothing listens on (a forged descriptor's). */
  deadHolder(): Promise<string>;
}

/** Options of {@linkcode dataPlaneMeshCases}. */
export interface DataCaseOptions {
  /** Bytes of the large tensor (over the 64 KiB threshold). */
  largeBytes: number;
  /** Bound on one call. Default 30 s. */
  timeoutMs?: number;
}

const QUEUE: QueueServing = { maxInflight: 4, maxDeliver: 3, ackWaitMs: 10_000 };

/** The three workers of the example, served as configs/encoder_decoder.yaml says. */
interface Deployment {
  ed: Runtime;
  enc: Runtime;
  dec: Runtime;
}

async function deploy(cluster: DataCluster, inputCopies: number): Promise<Deployment> {
  const [ed, enc, dec] = await Promise.all([
    cluster.runtime("ed"),
    cluster.runtime("enc"),
    cluster.runtime("dec"),
  ]);
  await enc.serve(encoder, { config: { input_copies: inputCopies, delay: 0 }, queue: QUEUE });
  await dec.serve(decoder, { config: { delay: 0 }, queue: QUEUE });
  await ed.serve(encoder_decoder, { config: { router: "work_queue" } });
  return { ed, enc, dec };
}

/** The one answer of a call to the encoder_decoder in `runtime` (a call from its own process). */
async function call(runtime: Runtime, body: unknown, timeoutMs: number): Promise<unknown> {
  const chunks: unknown[] = [];
  const deadline = Date.now() + timeoutMs;
  for await (const chunk of runtime.client(encoder_decoder).generate(body, { deadline })) {
    chunks.push(chunk);
  }
  assert.equal(chunks.length, 1);
  return chunks[0];
}

/** `{"tensor": {dtype, shape, descriptor}}` of a tensor put in `plane`. */
function byDescriptor(plane: DataPlane, tensor: Tensor, ttlMs?: number): { tensor: TensorRef } {
  const descriptor = plane.put(tensorBytes(tensor), ttlMs ? { ttlMs } : {});
  return { tensor: { dtype: tensor.dtype, shape: [...tensor.shape], descriptor } };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function counters(plane: DataPlane): Omit<DataPlaneStats, "refusals"> {
  const { held, heldBytes, bytesServed, bytesPulled, pulls } = plane.stats();
  return { held, heldBytes, bytesServed, bytesPulled, pulls };
}

/** Registers the cases as `Deno.test`s named `<label>: ...`. */
export function dataPlaneMeshCases(
  label: string,
  open: () => Promise<DataCluster>,
  options: DataCaseOptions,
  testOptions: Partial<Deno.TestDefinition> = {},
): void {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test({ ...testOptions, name: `${label}: ${name}`, fn } as Deno.TestDefinition);

  test(`a ${options.largeBytes}-byte tensor makes the round trip by descriptor; the encoder_decoder never pulls the encoder's output`, async () => {
    await using cluster = await open();
    const { ed, enc, dec } = await deploy(cluster, 2);
    const size = options.largeBytes;
    const input = randomTensor(size, "uint8", seededRandom(11));
    const request = byDescriptor(ed.dataPlane(), input);
    assert.equal(request.tensor.descriptor.holder, ed.dataPlane().address);

    const answer = (await call(ed, request, timeoutMs)) as { tensor: TensorRef };
    assert.deepEqual(Object.keys(answer.tensor).sort(), ["descriptor", "dtype", "shape"]);
    assert.equal(answer.tensor.dtype, "uint8");
    assert.deepEqual(answer.tensor.shape, [size]);
    assert.equal(answer.tensor.descriptor.holder, dec.dataPlane().address);
    assert.equal(answer.tensor.descriptor.size, size);
    const bytes = await ed.dataPlane().pull(answer.tensor.descriptor);
    assert.ok(sameBytes(bytes, tensorBytes(input)), "the answer equals the request");

    // The encoder pulled the input from ed; its output (2 copies) went to the decoder without
    // crossing ed; ed pulled the decoder's output only.
    const free = { held: 0, heldBytes: 0 };
    assert.deepEqual(counters(ed.dataPlane()), {
      ...free,
      bytesServed: size,
      bytesPulled: size,
      pulls: 1,
    });
    assert.deepEqual(counters(enc.dataPlane()), {
      ...free,
      bytesServed: 2 * size,
      bytesPulled: size,
      pulls: 1,
    });
    assert.deepEqual(counters(dec.dataPlane()), {
      ...free,
      bytesServed: size,
      bytesPulled: 2 * size,
      pulls: 1,
    });
  });

  test("a small tensor travels inline; an inline one over the threshold goes on by descriptor and comes back inline", async () => {
    await using cluster = await open();
    const { ed, enc, dec } = await deploy(cluster, 1);
    const small = inlineTensor(randomTensor(1000, "float32", seededRandom(1)));
    assert.deepEqual(await call(ed, small, timeoutMs), small);
    for (const runtime of [ed, enc, dec]) assert.equal(runtime.dataPlane().stats().pulls, 0);

    // An HTTP client's body: inline, but over the 64 KiB threshold.
    const size = 200 * 1024;
    const large = inlineTensor(randomTensor(size, "int16", seededRandom(2)));
    const answer = (await call(ed, large, timeoutMs)) as { tensor: TensorJson };
    assert.deepEqual(answer, large);
    const free = { held: 0, heldBytes: 0 };
    assert.deepEqual(counters(ed.dataPlane()), {
      ...free,
      bytesServed: size,
      bytesPulled: size,
      pulls: 1,
    });
    assert.deepEqual(counters(enc.dataPlane()), {
      ...free,
      bytesServed: size,
      bytesPulled: size,
      pulls: 1,
    });
    assert.deepEqual(counters(dec.dataPlane()), {
      ...free,
      bytesServed: size,
      bytesPulled: size,
      pulls: 1,
    });
  });

  test("stale, expired and forged descriptors are MeshErrors that name the holder", async () => {
    await using cluster = await open();
    const { ed } = await deploy(cluster, 1);
    const plane = ed.dataPlane();
    const input = randomTensor(100 * 1024, "uint8", seededRandom(5));
    const expectError = async (body: unknown, code: string, pattern: RegExp) => {
      await assert.rejects(call(ed, body, timeoutMs), (error: unknown) => {
        assert.ok(error instanceof MeshError, `expected a MeshError, got ${error}`);
        assert.equal(error.code, code, error.message);
        assert.match(error.message, pattern);
        return true;
      });
    };
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const holder = new RegExp(`from ${escape(plane.address)}: not held`);

    // Stale: the encoder pulled it on the first call; the second finds nothing.
    const once = byDescriptor(plane, input);
    const answer = (await call(ed, once, timeoutMs)) as { tensor: TensorRef };
    await plane.pull(answer.tensor.descriptor);
    await expectError(once, "not_found", holder);

    // Expired: past its TTL, nobody having pulled it.
    const expiring = byDescriptor(plane, input, 30);
    await eventually("the payload expires", () => plane.stats().held === 0);
    await expectError(expiring, "not_found", holder);

    // Forged: a key the holder never gave out, and a holder that does not exist.
    const forgedKey: Descriptor = { ...once.tensor.descriptor, key: "0".repeat(32) };
    await expectError({ tensor: { ...once.tensor, descriptor: forgedKey } }, "not_found", holder);
    const dead = await cluster.deadHolder();
    const forgedHolder: Descriptor = { ...once.tensor.descriptor, holder: dead };
    await expectError(
      { tensor: { ...once.tensor, descriptor: forgedHolder } },
      "instance_lost",
      new RegExp(`from ${escape(dead)}`),
    );

    // Not a descriptor of this tensor: its size does not match the shape.
    const wrongSize: Descriptor = { ...once.tensor.descriptor, size: 3 };
    await expectError(
      { tensor: { ...once.tensor, descriptor: wrongSize } },
      "bad_request",
      /tensor\.descriptor" must describe the 102400 bytes/,
    );
    // Every failure was the encoder's pull: ed pulled nothing but the one answer.
    assert.equal(plane.stats().pulls, 1);
  });
}
