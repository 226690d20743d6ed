/**
 * How a tensor travels in seed 002's requests and answers until the data plane is wired into the
 * runtime: inline in the JSON body, as `{"tensor": {"dtype", "shape", "data"}}` where `data` is the
 * base64 of the raw little-endian element bytes.
 *
 * {@linkcode packTensor} and {@linkcode unpackTensor} are the only two places that know this form:
 * when the data plane carries the bytes, they become "put the bytes in the data plane and return a
 * descriptor" and "pull the bytes of a descriptor", and nothing else in the example changes.
 *
 * @example
 * ```ts
 * import { packTensor, unpackTensor } from "./tensor_json.ts";
 * const sent = { dtype: "int16" as const, shape: [3], data: new Int16Array([1, -2, 3]) };
 * const back = unpackTensor(JSON.parse(JSON.stringify(packTensor(sent))));
 * console.assert(back.dtype === "int16" && back.data[1] === -2);
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { type Dtype, DTYPES, dtypeSize, type Tensor } from "../../protocol/tensor.ts";
import { MeshError } from "../../protocol/errors.ts";

/** A tensor in a JSON body: `data` is the base64 of its raw little-endian element bytes. */
export interface TensorJson {
  dtype: Dtype;
  shape: number[];
  data: string;
}

/** The body of every request and answer of the example: `{"tensor": ...}`. */
export interface TensorMessage {
  tensor: TensorJson;
}

const _MAX_RANK = 32;

/** The raw bytes of a tensor's elements (a view, no copy). */
export function tensorBytes(tensor: Tensor): Uint8Array {
  const { data } = tensor;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A tensor as a JSON message (`{"tensor": {...}}`); one base64 pass over the bytes. */
export function packTensor(tensor: Tensor): TensorMessage {
  const bytes = tensorBytes(tensor);
  return {
    tensor: {
      dtype: tensor.dtype,
      shape: [...tensor.shape],
      data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"),
    },
  };
}

/**
 * The tensor of a JSON message. Anything malformed (no `tensor`, an unknown dtype, a bad shape,
 * data that is not base64 or whose length does not match the shape) is a `bad_request`
 * `MeshError`, which the gateway answers with 400.
 */
export function unpackTensor(message: unknown): Tensor {
  const value = (message as Partial<TensorMessage> | null)?.tensor;
  if (value === null || typeof value !== "object") {
    throw _bad('Field "tensor" is required: {"dtype", "shape", "data" (base64)}');
  }
  const { dtype, shape, data } = value as Partial<TensorJson>;
  if (typeof dtype !== "string" || !(DTYPES as readonly string[]).includes(dtype)) {
    throw _bad(`Field "tensor.dtype" must be one of ${DTYPES.join(", ")}, got ${_show(dtype)}`);
  }
  if (
    !Array.isArray(shape) || shape.length > _MAX_RANK ||
    !shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0)
  ) {
    throw _bad(`Field "tensor.shape" must be a list of whole numbers >= 0, got ${_show(shape)}`);
  }
  if (typeof data !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) {
    throw _bad('Field "tensor.data" must be base64 text');
  }
  const count = shape.reduce((a: number, b: number) => a * b, 1);
  const size = dtypeSize(dtype as Dtype);
  const decoded = Buffer.from(data, "base64");
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
