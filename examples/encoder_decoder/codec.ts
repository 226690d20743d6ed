/**
 * The arithmetic of seed 002's hello world, on tensors, with no I/O: {@linkcode encodeCopies}
 * (the encoder: `copies` copies of the input, stacked on a new leading axis, then inverted) and
 * {@linkcode decodeCopies} (the decoder: keep the first copy, invert it back).
 *
 * "Invert" is the bitwise NOT of every byte of the elements, for every dtype (floats too): it
 * depends on no value, loses nothing (NaN patterns included), and applied twice gives the input
 * back byte for byte, so `decodeCopies(encodeCopies(t, n))` equals `t` exactly.
 *
 * @example
 * ```ts
 * import { decodeCopies, encodeCopies } from "./codec.ts";
 * const t = { dtype: "uint8" as const, shape: [2], data: new Uint8Array([0, 7]) };
 * const encoded = encodeCopies(t, 3);
 * console.assert(encoded.shape.join() === "3,2" && encoded.data[0] === 255);
 * console.assert(decodeCopies(encoded).data[1] === 7);
 * ```
 *
 * @module
 */

import type { Tensor } from "../../protocol/tensor.ts";
import { MeshError } from "../../protocol/errors.ts";
import { tensorBytes, tensorOf } from "./tensor_json.ts";

/** `copies` copies of `input` on a new leading axis (`[copies, ...shape]`), every byte inverted. */
export function encodeCopies(input: Tensor, copies: number): Tensor {
  if (!Number.isSafeInteger(copies) || copies < 1) {
    throw new RangeError(`Cannot encode with "${copies}" copies: expected a whole number >= 1`);
  }
  const source = tensorBytes(input);
  const out = new Uint8Array(source.byteLength * copies);
  invertInto(source, out.subarray(0, source.byteLength));
  for (let i = 1; i < copies; i++) out.copyWithin(i * source.byteLength, 0, source.byteLength);
  return tensorOf(input.dtype, [copies, ...input.shape], out);
}

/**
 * The first copy of an encoded tensor (`[copies, ...shape]` → `shape`), every byte inverted back.
 * A tensor without a leading copies axis (rank 0, or 0 copies) is a `bad_request` `MeshError`.
 */
export function decodeCopies(encoded: Tensor): Tensor {
  const [copies, ...shape] = encoded.shape;
  if (copies === undefined || copies < 1) {
    throw new MeshError(
      "bad_request",
      `The decoder takes a tensor of shape [copies, ...], copies >= 1; got [${encoded.shape}]`,
    );
  }
  const all = tensorBytes(encoded);
  const one = all.byteLength / copies;
  const out = new Uint8Array(one);
  invertInto(all.subarray(0, one), out);
  return tensorOf(encoded.dtype, shape, out);
}

/** Writes the bitwise NOT of every byte of `source` into `target` (same length; may alias). */
export function invertInto(source: Uint8Array, target: Uint8Array): void {
  const n = source.byteLength;
  let i = 0;
  // Four bytes at a time where both sides allow 32-bit views.
  if (source.byteOffset % 4 === 0 && target.byteOffset % 4 === 0) {
    const words = n >>> 2;
    const from = new Uint32Array(source.buffer, source.byteOffset, words);
    const to = new Uint32Array(target.buffer, target.byteOffset, words);
    for (let w = 0; w < words; w++) to[w] = ~from[w]!;
    i = words << 2;
  }
  for (; i < n; i++) target[i] = ~source[i]! & 0xff;
}

/** Elements of a tensor (the product of its shape): what `delay` is multiplied by. */
export function elementCount(tensor: Tensor): number {
  return tensor.shape.reduce((a, b) => a * b, 1);
}
