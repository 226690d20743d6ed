/**
 * Tensors and their compact wire form: a small header, then the raw little-endian element bytes
 * (no JSON, no base64), so a tensor can be a data-plane payload and `tensorMeta` its
 * descriptor's `meta`.
 *
 * ```
 * "MWT1" | dtype code u8 | rank u8 | 2 zero bytes | rank × dim u64 LE | elements (LE)
 * ```
 *
 * The header is a multiple of 8 bytes, so the elements of an encoded tensor are aligned for every
 * dtype, and {@linkcode decodeTensor} views them without copying when the input is aligned too.
 *
 * @example
 * ```ts
 * import { decodeTensor, encodeTensor, type Tensor } from "./tensor.ts";
 * const t: Tensor = { dtype: "float32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
 * const back = decodeTensor(encodeTensor(t));
 * console.assert(back.dtype === "float32" && back.data[3] === 4);
 * ```
 *
 * @module
 */

import { type Random, systemRandom } from "../utils/random.ts";

/** The element type of each dtype. */
export interface TensorArrays {
  uint8: Uint8Array;
  int8: Int8Array;
  uint16: Uint16Array;
  int16: Int16Array;
  uint32: Uint32Array;
  int32: Int32Array;
  float16: Float16Array;
  float32: Float32Array;
  float64: Float64Array;
  bigint64: BigInt64Array;
  biguint64: BigUint64Array;
}

/** A tensor element type. */
export type Dtype = keyof TensorArrays;

/** A dense, row-major tensor: `data.length` is the product of `shape`. */
export interface Tensor<D extends Dtype = Dtype> {
  dtype: D;
  shape: number[];
  data: TensorArrays[D];
}

type _ArrayConstructor = {
  new (length: number): TensorArrays[Dtype];
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorArrays[Dtype];
  readonly BYTES_PER_ELEMENT: number;
};

/** Dtypes by wire code (the index). Codes are fixed: append only. */
const _DTYPES: readonly [Dtype, _ArrayConstructor][] = [
  ["uint8", Uint8Array],
  ["int8", Int8Array],
  ["uint16", Uint16Array],
  ["int16", Int16Array],
  ["uint32", Uint32Array],
  ["int32", Int32Array],
  ["float16", Float16Array],
  ["float32", Float32Array],
  ["float64", Float64Array],
  ["bigint64", BigInt64Array],
  ["biguint64", BigUint64Array],
] as unknown as [Dtype, _ArrayConstructor][];

const _CODE = new Map<string, number>(_DTYPES.map(([name], code) => [name, code]));
const _MAGIC = [0x4d, 0x57, 0x54, 0x31]; // "MWT1"
const _MAX_RANK = 32;
const _LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Every dtype, in wire-code order. */
export const DTYPES: readonly Dtype[] = _DTYPES.map(([name]) => name);

/** Bytes per element of `dtype`; a `TypeError` for an unknown one. */
export function dtypeSize(dtype: Dtype): number {
  return _ctor(dtype).BYTES_PER_ELEMENT;
}

/**
 * Encodes a tensor: header, then its elements (one copy of the data). Throws a `TypeError` for an
 * unknown dtype, a bad shape, or data whose length is not the product of the shape.
 */
export function encodeTensor(tensor: Tensor): Uint8Array {
  const { dtype, shape, data } = tensor;
  const ctor = _ctor(dtype);
  _checkShape(shape, `Cannot encode a "${dtype}" tensor`);
  if (!(data instanceof ctor)) {
    throw new TypeError(`Cannot encode a "${dtype}" tensor: data is not a ${ctor.name}`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new TypeError(
      `Cannot encode a "${dtype}" tensor of shape [${shape}]: ${data.length} elements, expected ${count}`,
    );
  }
  const header = 8 + 8 * shape.length;
  const out = new Uint8Array(header + data.byteLength);
  const view = new DataView(out.buffer);
  out.set(_MAGIC, 0);
  view.setUint8(4, _CODE.get(dtype)!);
  view.setUint8(5, shape.length);
  shape.forEach((dim, i) => view.setBigUint64(8 + 8 * i, BigInt(dim), true));
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  out.set(raw, header);
  if (!_LITTLE_ENDIAN) _swap(out.subarray(header), ctor.BYTES_PER_ELEMENT);
  return out;
}

/**
 * Decodes {@linkcode encodeTensor}'s output. The data views `bytes` (no copy) when they are
 * aligned for the dtype, and is a copy otherwise. Throws a `TypeError` on a bad header or when
 * the byte count does not match the shape.
 */
export function decodeTensor(bytes: Uint8Array): Tensor {
  if (bytes.length < 8 || _MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new TypeError(`Cannot decode a tensor: no tensor header (${bytes.length} bytes)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const code = view.getUint8(4);
  const entry = _DTYPES[code];
  if (!entry) throw new TypeError(`Cannot decode a tensor: unknown dtype code "${code}"`);
  const [dtype, ctor] = entry;
  const rank = view.getUint8(5);
  const header = 8 + 8 * rank;
  if (rank > _MAX_RANK || bytes.length < header) {
    throw new TypeError(`Cannot decode a "${dtype}" tensor: header of rank ${rank} is cut short`);
  }
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) {
    const dim = view.getBigUint64(8 + 8 * i, true);
    if (dim > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new TypeError(`Cannot decode a "${dtype}" tensor: dimension "${dim}" is too large`);
    }
    shape.push(Number(dim));
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const size = ctor.BYTES_PER_ELEMENT;
  const body = bytes.length - header;
  if (!Number.isSafeInteger(count * size) || body !== count * size) {
    throw new TypeError(
      `Cannot decode a "${dtype}" tensor of shape [${shape}]: ${body} data bytes, expected ${
        count * size
      }`,
    );
  }
  const offset = bytes.byteOffset + header;
  let data: TensorArrays[Dtype];
  if (offset % size === 0 && _LITTLE_ENDIAN) {
    data = new ctor(bytes.buffer, offset, count);
  } else {
    const copy = bytes.slice(header);
    if (!_LITTLE_ENDIAN) _swap(copy, size);
    data = new ctor(copy.buffer, 0, count);
  }
  return { dtype, shape, data } as Tensor;
}

/** What a descriptor's `meta` says about a tensor payload: `{dtype, shape}`. */
export function tensorMeta(tensor: Tensor): { dtype: Dtype; shape: number[] } {
  return { dtype: tensor.dtype, shape: [...tensor.shape] };
}

/**
 * A one-dimensional tensor of about `sizeBytes` bytes (`⌊sizeBytes / element size⌋` elements) of
 * random values drawn from `random`: floats in [0, 1), integers over their whole range.
 */
export function randomTensor<D extends Dtype = "float32">(
  sizeBytes: number,
  dtype: D = "float32" as D,
  random: Random = systemRandom,
): Tensor<D> {
  const ctor = _ctor(dtype);
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
    throw new RangeError(`Cannot make a tensor of "${sizeBytes}" bytes: not a whole number >= 0`);
  }
  const count = Math.floor(sizeBytes / ctor.BYTES_PER_ELEMENT);
  const data = new ctor(count);
  if (dtype.startsWith("float")) {
    const floats = data as Float64Array;
    for (let i = 0; i < count; i++) floats[i] = random();
  } else {
    const raw = new Uint8Array(data.buffer);
    const words = new Uint32Array(data.buffer, 0, raw.length >>> 2);
    for (let i = 0; i < words.length; i++) words[i] = Math.floor(random() * 0x1_0000_0000);
    for (let i = words.length * 4; i < raw.length; i++) raw[i] = Math.floor(random() * 256);
  }
  return { dtype, shape: [count], data } as Tensor<D>;
}

function _ctor(dtype: Dtype): _ArrayConstructor {
  const code = _CODE.get(dtype);
  if (code === undefined) throw new TypeError(`Unknown dtype "${dtype}"`);
  return _DTYPES[code]![1];
}

function _checkShape(shape: number[], what: string): void {
  if (!Array.isArray(shape) || shape.length > _MAX_RANK) {
    throw new TypeError(`${what}: shape must be an array of at most ${_MAX_RANK} dimensions`);
  }
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new TypeError(`${what}: dimension "${dim}" is not a whole number >= 0`);
    }
  }
}

/** Reverses the bytes of each `size`-byte element in place (big-endian hosts only). */
function _swap(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i + size <= bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}
