/**
 * What an endpoint handler returns, as a stream of chunks: an async generator, a (non-array)
 * iterator, or one value (or a promise of one) for a one-chunk answer.
 *
 * @module
 */

/**
 * Turns whatever a handler returned into an async iterable of chunks. An async iterable (the
 * usual async generator) is used as it is, with no layer around it; a plain value is one chunk;
 * `undefined` is none.
 *
 * @example
 * ```ts
 * import { chunksOf } from "./handler_result.ts";
 * const chunks: unknown[] = [];
 * for await (const chunk of chunksOf(Promise.resolve("hi"))) chunks.push(chunk);
 * console.assert(chunks.length === 1 && chunks[0] === "hi");
 * ```
 */
export function chunksOf(result: unknown): AsyncIterable<unknown> {
  if (result && typeof result === "object" && Symbol.asyncIterator in result) {
    return result as AsyncIterable<unknown>;
  }
  return _otherChunks(result);
}

/** A (non-array) iterator's items, or one value (awaited). */
async function* _otherChunks(result: unknown): AsyncGenerator<unknown> {
  if (
    result && typeof result === "object" && Symbol.iterator in result && "next" in result &&
    typeof result.next === "function" && !Array.isArray(result)
  ) {
    return yield* result as Iterable<unknown>;
  }
  const value = await result;
  if (value !== undefined) yield value;
}
