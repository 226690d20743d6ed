/**
 * Parsing untrusted JSON bodies (HTTP requests and mailbox messages) with clear, distinct errors:
 * bytes that are not UTF-8, text that is not JSON, and nesting deeper than a limit (which would
 * otherwise break a later `JSON.stringify` far from the cause).
 *
 * @module
 */

import { MeshError } from "./errors.ts";
import { decodeStrictUtf8 } from "./strict_utf8.ts";

/** The deepest nesting of arrays and objects a body may have. */
export const MAX_JSON_DEPTH = 64;

/** The deepest nesting of `[`/`{` in JSON text, ignoring brackets inside strings. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest) deepest = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/**
 * Parses a JSON body; an empty body is `undefined`. Throws `MeshError("bad_request")` saying
 * whether the bytes are not UTF-8, the text is not JSON, or the nesting is too deep.
 */
export function parseJsonBody(bytes: Uint8Array, maxDepth = MAX_JSON_DEPTH): unknown {
  if (bytes.length === 0) return undefined;
  let text: string;
  try {
    text = decodeStrictUtf8(bytes);
  } catch (error) {
    throw new MeshError("bad_request", "Body is not valid UTF-8", { cause: error });
  }
  // Each level takes two characters, so a short text cannot be too deep: skip the scan.
  if (text.length > 2 * maxDepth && jsonDepth(text) > maxDepth) {
    throw new MeshError("bad_request", `Body is nested deeper than ${maxDepth} levels`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new MeshError("bad_request", "Body is not valid JSON", { cause: error });
  }
}
