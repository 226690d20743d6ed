/**
 * `protocol/tensor.ts`: every dtype survives the wire form exactly, the form is compact, and bad
 * input is a clear `TypeError`.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  decodeTensor,
  type Dtype,
  DTYPES,
  dtypeSize,
  encodeTensor,
  randomTensor,
  type Tensor,
  tensorMeta,
} from "../../protocol/tensor.ts";
import { seededRandom } from "../../utils/random.ts";

/** Values at the edges of each dtype's range, plus ordinary ones. */
const SAMPLES: Record<Dtype, unknown[]> = {
  uint8: [0, 1, 127, 128, 255, 42],
  int8: [-128, -1, 0, 1, 127, 42],
  uint16: [0, 1, 65535, 256, 255, 42],
  int16: [-32768, -1, 0, 1, 32767, 42],
  uint32: [0, 1, 4294967295, 65536, 255, 42],
  int32: [-2147483648, -1, 0, 1, 2147483647, 42],
  float16: [0, -0, 1.5, -2.25, 65504, Infinity],
  float32: [0, -0, 1.5, -3.4028234663852886e38, NaN, Infinity],
  float64: [Number.MIN_VALUE, -0, Math.PI, -Number.MAX_VALUE, NaN, -Infinity],
  bigint64: [-(2n ** 63n), -1n, 0n, 1n, 2n ** 63n - 1n, 42n],
  biguint64: [0n, 1n, 2n ** 64n - 1n, 2n ** 32n, 255n, 42n],
};

function sample(dtype: Dtype): Tensor {
  const t = randomTensor(6 * dtypeSize(dtype), dtype);
  (t.data as unknown as { set(v: unknown[]): void }).set(SAMPLES[dtype]);
  return { ...t, shape: [2, 3] };
}

for (const dtype of DTYPES) {
  Deno.test(`encodeTensor() then decodeTensor() keeps a "${dtype}" tensor exactly`, () => {
    const tensor = sample(dtype);
    const bytes = encodeTensor(tensor);
    assert.equal(bytes.length, 8 + 2 * 8 + 6 * dtypeSize(dtype));
    const back = decodeTensor(bytes);
    assert.equal(back.dtype, dtype);
    assert.deepEqual(back.shape, [2, 3]);
    assert.equal(back.data.constructor, tensor.data.constructor);
    assert.deepEqual([...back.data], [...tensor.data]); // NaN and -0 compare as themselves
  });
}

Deno.test("the wire form is a small header and the little-endian elements", () => {
  const bytes = encodeTensor({
    dtype: "uint16",
    shape: [2],
    data: new Uint16Array([0x0102, 0x0304]),
  });
  assert.deepEqual([...bytes], [
    0x4d,
    0x57,
    0x54,
    0x31,
    2,
    1,
    0,
    0, // "MWT1", dtype code, rank
    2,
    0,
    0,
    0,
    0,
    0,
    0,
    0, // dim 0 (u64 LE)
    0x02,
    0x01,
    0x04,
    0x03, // elements
  ]);
});

Deno.test("decodeTensor() views aligned input without copying, and copies unaligned input", () => {
  const bytes = encodeTensor({ dtype: "float64", shape: [3], data: new Float64Array([1, 2, 3]) });
  const aligned = decodeTensor(bytes);
  assert.equal(aligned.data.buffer, bytes.buffer);
  const shifted = new Uint8Array(bytes.length + 1).subarray(1);
  shifted.set(bytes);
  const copied = decodeTensor(shifted);
  assert.notEqual(copied.data.buffer, shifted.buffer);
  assert.deepEqual([...copied.data], [1, 2, 3]);
});

Deno.test("scalars (rank 0) and empty tensors round-trip", () => {
  const scalar = decodeTensor(
    encodeTensor({ dtype: "int32", shape: [], data: new Int32Array([-7]) }),
  );
  assert.deepEqual([scalar.shape, [...scalar.data]], [[], [-7]]);
  const empty = decodeTensor(
    encodeTensor({ dtype: "float32", shape: [0, 4], data: new Float32Array(0) }),
  );
  assert.deepEqual([empty.shape, empty.data.length], [[0, 4], 0]);
});

Deno.test("decodeTensor() rejects a bad header or a size mismatch with a clear TypeError", () => {
  const good = encodeTensor({ dtype: "int16", shape: [2, 2], data: new Int16Array(4) });
  const cases: [Uint8Array, string][] = [
    [
      new TextEncoder().encode('{"json": true}'),
      "Cannot decode a tensor: no tensor header (14 bytes)",
    ],
    [new Uint8Array(0), "Cannot decode a tensor: no tensor header (0 bytes)"],
    [
      (() => {
        const b = good.slice();
        b[4] = 200;
        return b;
      })(),
      'Cannot decode a tensor: unknown dtype code "200"',
    ],
    [good.slice(0, 12), 'Cannot decode a "int16" tensor: header of rank 2 is cut short'],
    [
      good.slice(0, good.length - 1),
      'Cannot decode a "int16" tensor of shape [2,2]: 7 data bytes, expected 8',
    ],
    [
      new Uint8Array([...good, 0, 0]),
      'Cannot decode a "int16" tensor of shape [2,2]: 10 data bytes, expected 8',
    ],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(
      () => decodeTensor(bytes),
      (e: Error) => e instanceof TypeError && e.message === message,
    );
  }
});

Deno.test("encodeTensor() rejects a shape that does not fit the data, and a wrong array type", () => {
  assert.throws(
    () => encodeTensor({ dtype: "float32", shape: [2, 3], data: new Float32Array(5) }),
    {
      name: "TypeError",
      message: 'Cannot encode a "float32" tensor of shape [2,3]: 5 elements, expected 6',
    },
  );
  assert.throws(
    () =>
      encodeTensor(
        { dtype: "float32", shape: [2], data: new Float64Array(2) } as unknown as Tensor,
      ),
    { name: "TypeError", message: 'Cannot encode a "float32" tensor: data is not a Float32Array' },
  );
  assert.throws(
    () => encodeTensor({ dtype: "int8", shape: [-1], data: new Int8Array(0) }),
    {
      name: "TypeError",
      message: 'Cannot encode a "int8" tensor: dimension "-1" is not a whole number >= 0',
    },
  );
  assert.throws(
    () =>
      encodeTensor(
        { dtype: "complex64", shape: [1], data: new Uint8Array(1) } as unknown as Tensor,
      ),
    { name: "TypeError", message: 'Unknown dtype "complex64"' },
  );
});

Deno.test("randomTensor() makes about size bytes, repeatably with a seeded Random", () => {
  const a = randomTensor(1000, "float32", seededRandom(5));
  const b = randomTensor(1000, "float32", seededRandom(5));
  assert.deepEqual([a.dtype, a.shape, a.data.byteLength], ["float32", [250], 1000]);
  assert.deepEqual([...a.data], [...b.data]);
  assert.ok([...a.data].every((x) => x >= 0 && x < 1));
  const odd = randomTensor(1001, "float64", seededRandom(5));
  assert.deepEqual(odd.shape, [125]);
  const ints = randomTensor(64, "int8", seededRandom(9));
  assert.ok(new Set(ints.data).size > 10);
  assert.deepEqual(tensorMeta(a), { dtype: "float32", shape: [250] });
  assert.throws(() => randomTensor(-1), RangeError);
});
