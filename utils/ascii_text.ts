/**
 * Short ASCII text to and from bytes in JavaScript, without calling into the runtime. Deno's
 * `TextDecoder.decode` and `TextEncoder.encodeInto` are calls into Rust: about 0.1 µs each when
 * hot, but a worker answering one request at a time runs its path cold. There the decode and
 * encode of one request (four to six such calls: subjects, request id and body in, instance id
 * and answer out; and its JSON) cost 11–13 µs of the worker's CPU, and doing short ASCII text here
 * took back about 6 µs (`deno task bench`, one connection; see `docs/performance.md`). Ids,
 * subjects and small JSON bodies are short and almost always ASCII, where UTF-8 is one byte per
 * character; anything longer or not ASCII is left to the runtime's codecs.
 *
 * @example
 * ```ts
 * import { asciiText, writeAscii } from "./ascii_text.ts";
 * const out = new Uint8Array(8);
 * console.assert(writeAscii("hi", out, 0) === 2);
 * console.assert(asciiText(out.subarray(0, 2)) === "hi");
 * console.assert(writeAscii("é", out, 0) === -1 && asciiText(new Uint8Array([0xc3])) === undefined);
 * ```
 *
 * @module
 */

/** The longest text (in bytes or characters) these functions take on. */
export const ASCII_MAX = 256;

/** `bytes` as text when they are at most {@linkcode ASCII_MAX} ASCII bytes; else `undefined`. */
export function asciiText(bytes: Uint8Array): string | undefined {
  if (bytes.length > ASCII_MAX) return undefined;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! > 0x7f) return undefined;
  }
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

/**
 * Writes `text` at `at` in `out` when it is at most {@linkcode ASCII_MAX} ASCII characters and
 * fits; returns the bytes written, or -1 (then `out` may hold part of it: write it again another
 * way).
 */
export function writeAscii(text: string, out: Uint8Array, at: number): number {
  const length = text.length;
  if (length > ASCII_MAX || at + length > out.length) return -1;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return -1;
    out[at + i] = code;
  }
  return length;
}
