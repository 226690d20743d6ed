/**
 * The client's `--tensor` mode (seed 002's client): every request is a fresh random tensor,
 * `{"tensor": {"dtype", "shape", "data" (base64)}}`, and every answer must be that same tensor
 * (encode then decode is the identity). {@linkcode tensorLoad} gives `runLoad` the body of each
 * request and the check of its answer; it keeps only the requests in flight.
 *
 * @module
 */

import { inlineTensor, type TensorJson } from "../examples/encoder_decoder/tensor_json.ts";
import { type Dtype, randomTensor } from "../protocol/tensor.ts";
import { type Random, systemRandom } from "../utils/random.ts";

/** Bodies and answer checks for `runLoad`. */
export interface TensorLoad {
  bodyFor(index: number): string;
  verify(index: number, answer: string): string | undefined;
}

/** Random tensors of `sizeBytes` bytes of `dtype`, drawn from `random`. */
export function tensorLoad(
  sizeBytes: number,
  dtype: Dtype,
  random: Random = systemRandom,
): TensorLoad {
  const sent = new Map<number, TensorJson>();
  return {
    bodyFor(index) {
      const message = inlineTensor(randomTensor(sizeBytes, dtype, random));
      sent.set(index, message.tensor);
      return JSON.stringify(message);
    },
    verify(index, answer) {
      const expected = sent.get(index);
      sent.delete(index);
      if (!expected) return `request ${index} was not sent`;
      let got: TensorJson | undefined;
      try {
        got = (JSON.parse(answer) as { tensor?: TensorJson } | null)?.tensor;
      } catch {
        return `not JSON: ${answer.slice(0, 80)}`;
      }
      if (!got || typeof got !== "object") return `no "tensor" in the answer`;
      if (got.dtype !== expected.dtype) {
        return `dtype "${got.dtype}", sent "${expected.dtype}"`;
      }
      if (JSON.stringify(got.shape) !== JSON.stringify(expected.shape)) {
        return `shape [${got.shape}], sent [${expected.shape}]`;
      }
      // The same encoder (canonical base64) on both sides: equal text iff equal bytes.
      if (got.data !== expected.data) return `the data differs (${expected.shape} ${got.dtype})`;
      return undefined;
    },
  };
}
