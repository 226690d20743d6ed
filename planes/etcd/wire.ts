/**
 * How keys and values travel to etcd's HTTP/JSON gateway: base64 strings (etcd keys are bytes),
 * and a prefix as the `key`/`range_end` pair of etcd's `--prefix`.
 *
 * @module
 */

/** A JSON body from etcd's gateway, as parsed (its shape is checked where it is read). */
// deno-lint-ignore no-explicit-any
export type Json = any;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes as base64. */
export function b64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Text (UTF-8) as base64. */
export function b64text(text: string): string {
  return b64(encoder.encode(text));
}

/** Base64 back to text (UTF-8); a missing or empty field is `""`. */
export function unb64(text: string | undefined): string {
  if (!text) return "";
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return decoder.decode(bytes);
}

/**
 * `key` and `range_end` (base64) for every key under `prefix`, as etcd's `--prefix`.
 *
 * @example
 * ```ts
 * import { prefixRange } from "./wire.ts";
 * const range = prefixRange("mesh/");
 * console.assert(atob(range.key) === "mesh/" && atob(range.range_end) === "mesh0");
 * ```
 */
export function prefixRange(prefix: string): { key: string; range_end: string } {
  const start = encoder.encode(prefix);
  if (start.length === 0) {
    return { key: b64(new Uint8Array([0])), range_end: b64(new Uint8Array([0])) };
  }
  const end = start.slice();
  let i = end.length - 1;
  while (i >= 0 && end[i] === 0xff) i--;
  if (i < 0) return { key: b64(start), range_end: b64(new Uint8Array([0])) };
  end[i] = end[i]! + 1;
  return { key: b64(start), range_end: b64(end.subarray(0, i + 1)) };
}
