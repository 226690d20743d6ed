/**
 * How a tensor travels in seed 002's requests and answers: `{"tensor": {"dtype", "shape", ...}}`
 * with either
 *
 * - `"data"`: the base64 of the raw little-endian element bytes, inline in the JSON body (small
 *   tensors, and what HTTP clients send and get), or
 * - `"descriptor"`: a data-plane descriptor (`{holder, key, size}`) of those raw bytes, which the
 *   process that needs them pulls straight from the holder (tensors over `ctx.data.threshold`,
 *   `data_plane.threshold`, 64 KiB by default). Such a body is a few hundred bytes, whatever the
 *   tensor's size, so it never strains the request plane (NATS' 1 MiB payload limit).
 *
 * {@linkcode packTensor} and {@linkcode unpackTensor} are the only two places that choose between
 * them; {@linkcode inlineTensor} always writes the inline form (for HTTP clients).
 *
 * @example
 * ```ts
 * import { inlineTensor, unpackTensor } from "./tensor_json.ts";
 * const sent = { dtype: "int16" as const, shape: [3], data: new Int16Array([1, -2, 3]) };
 * const back = await unpackTensor(JSON.parse(JSON.stringify(inlineTensor(sent))));
 * console.assert(back.dtype === "int16" && back.data[1] === -2);
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { type Dtype, DTYPES, dtypeSize, type Tensor } from "../../protocol/tensor.ts";
import { MeshError } from "../../protocol/errors.ts";
import type { RequestData } from "../../actors/component.ts";
import type { Descriptor } from "../../planes/data_plane.ts";

/** A tensor in a JSON body: `data` is the base64 of its raw little-endian element bytes. */
export interface TensorJson {
  dtype: Dtype;
  shape: number[];
  data: string;
}

/** How the helpers reach the data plane: a request context (`ctx.data` is made on first use). */
export interface WithData {
  readonly data: RequestData;
}

/** A tensor by reference: its raw little-endian element bytes are held by a data plane. */
export interface TensorRef {
  dtype: Dtype;
  shape: number[];
  descriptor: Descriptor;
}

/** The body of every request and answer of the example: `{"tensor": ...}`, inline or not. */
export interface TensorMessage {
  tensor: TensorJson | TensorRef;
}

const _MAX_RANK = 32;

/** The raw bytes of a tensor's elements (a view, no copy). */
export function tensorBytes(tensor: Tensor): Uint8Array {
  const { data } = tensor;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * A tensor as a message: by descriptor when `ctx` is given and the tensor is larger than
 * `ctx.data.threshold` bytes (the bytes are put in this process's data plane, not copied: do not
 * change them afterwards), inline otherwise.
 */
export function packTensor(tensor: Tensor, ctx?: WithData): Promise<TensorMessage> {
  const bytes = tensorBytes(tensor);
  if (ctx === undefined || bytes.byteLength <= ctx.data.threshold) {
    return Promise.resolve(inlineTensor(tensor));
  }
  const descriptor = ctx.data.put(bytes);
  return Promise.resolve({
    tensor: { dtype: tensor.dtype, shape: [...tensor.shape], descriptor },
  });
}

/** A tensor as an inline JSON message (`{"tensor": {..., "data"}}`); one base64 pass. */
export function inlineTensor(tensor: Tensor): { tensor: TensorJson } {
  const bytes = tensorBytes(tensor);
  return {
    tensor: {
      dtype: tensor.dtype,
      shape: [...tensor.shape],
      data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"),
    },
  };
}

/** Whether a message's tensor travels by descriptor (`{"tensor": {..., "descriptor"}}`). */
export function isTensorRef(message: unknown): boolean {
  const value = (message as { tensor?: { descriptor?: unknown } } | null)?.tensor;
  return typeof value === "object" && value !== null && value.descriptor !== undefined;
}

/**
 * The raw size in bytes of an inline message's tensor, from the length of its base64 text
 * (without decoding it); undefined when the message has no inline data.
 */
export function inlineSize(message: unknown): number | undefined {
  const data = (message as { tensor?: { data?: unknown } } | null)?.tensor?.data;
  if (typeof data !== "string") return undefined;
  const padding = data.endsWith("==") ? 2 : data.endsWith("=") ? 1 : 0;
  return (data.length / 4) * 3 - padding;
}

/**
 * The tensor of a message: decoded when inline, pulled from its holder through `ctx.data` when it
 * travels by descriptor. Anything malformed (no `tensor`, an unknown dtype, a bad shape, data that
 * is not base64, a size that does not match the shape, a descriptor without a data plane) is a
 * `bad_request` `MeshError`, which the gateway answers with 400; a failed pull is the `MeshError`
 * `ctx.data.pull` throws (`not_found` for a payload no longer held, naming the holder).
 */
export async function unpackTensor(message: unknown, ctx?: WithData): Promise<Tensor> {
  const value = (message as Partial<TensorMessage> | null)?.tensor;
  if (value === null || typeof value !== "object") {
    throw _bad('Field "tensor" is required: {"dtype", "shape", "data" (base64)}');
  }
  const { dtype, shape } = value as Partial<TensorJson>;
  if (typeof dtype !== "string" || !(DTYPES as readonly string[]).includes(dtype)) {
    throw _bad(`Field "tensor.dtype" must be one of ${DTYPES.join(", ")}, got ${_show(dtype)}`);
  }
  if (
    !Array.isArray(shape) || shape.length > _MAX_RANK ||
    !shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0)
  ) {
    throw _bad(`Field "tensor.shape" must be a list of whole numbers >= 0, got ${_show(shape)}`);
  }
  const { descriptor } = value as Partial<TensorRef>;
  if (descriptor !== undefined) {
    return await _pulled(dtype as Dtype, [...shape], descriptor, ctx);
  }
  const { data: text } = value as Partial<TensorJson>;
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw _bad('Field "tensor.data" must be base64 text');
  }
  const count = shape.reduce((a: number, b: number) => a * b, 1);
  const size = dtypeSize(dtype as Dtype);
  const decoded = Buffer.from(text, "base64");
  if (decoded.byteLength !== count * size) {
    throw _bad(
      `Field "tensor.data" holds ${decoded.byteLength} bytes; a "${dtype}" tensor of shape ` +
        `[${shape}] needs ${count * size}`,
    );
  }
  // Buffer.from may hand back a slice of a shared pool at any offset: copy into a buffer of our
  // own, aligned for the dtype.
  const bytes = new Uint8Array(decoded.byteLength);
  bytes.set(decoded);
  return _view(dtype as Dtype, [...shape], bytes);
}

/** The tensor a descriptor names, pulled from its holder. */
async function _pulled(
  dtype: Dtype,
  shape: number[],
  descriptor: Descriptor,
  ctx: WithData | undefined,
): Promise<Tensor> {
  const size = shape.reduce((a, b) => a * b, 1) * dtypeSize(dtype);
  if (descriptor === null || typeof descriptor !== "object" || descriptor.size !== size) {
    throw _bad(
      `Field "tensor.descriptor" must describe the ${size} bytes of a "${dtype}" tensor of shape ` +
        `[${shape}], got ${_show(descriptor)}`,
    );
  }
  if (!ctx) throw _bad('Field "tensor.descriptor" needs a data plane here: send "data" instead');
  let bytes = await ctx.data.pull(descriptor);
  if (bytes.byteLength !== size) {
    throw new MeshError(
      "internal",
      `The holder ${descriptor.holder} sent ${bytes.byteLength} bytes for a ${size}-byte tensor`,
    );
  }
  if (bytes.byteOffset % dtypeSize(dtype) !== 0) bytes = bytes.slice();
  return _view(dtype, shape, bytes);
}

/** A tensor of `dtype` and `shape` over `bytes` (which must be aligned and of the right length). */
export function tensorOf(dtype: Dtype, shape: number[], bytes: Uint8Array): Tensor {
  return _view(dtype, shape, bytes);
}

function _view(dtype: Dtype, shape: number[], bytes: Uint8Array): Tensor {
  const count = bytes.byteLength / dtypeSize(dtype);
  const ctor = _CTORS[dtype];
  return { dtype, shape, data: new ctor(bytes.buffer, bytes.byteOffset, count) } as Tensor;
}

const _CTORS: Record<Dtype, new (b: ArrayBufferLike, o: number, n: number) => unknown> = {
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  uint32: Uint32Array,
  int32: Int32Array,
  float16: Float16Array,
  float32: Float32Array,
  float64: Float64Array,
  bigint64: BigInt64Array,
  biguint64: BigUint64Array,
};

function _bad(message: string): MeshError {
  return new MeshError("bad_request", message);
}

function _show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}
