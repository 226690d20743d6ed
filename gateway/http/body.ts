/**
 * Reading and parsing a request body with limits: at most `maxBytes` (413, from
 * `Content-Length` before reading and while reading), within `timeoutMs` of the injected clock
 * (408, the slow-loris guard), and a JSON object (400 otherwise).
 *
 * @module
 */

import type { TimeoutQueue } from "../../utils/timeout_queue.ts";
import { MeshError } from "../../protocol/errors.ts";
import { parseJsonBody } from "../../protocol/json_body.ts";
import { bodyTimeout, payloadTooLarge } from "./http_errors.ts";

/** Limits for {@linkcode readBody}. */
export interface BodyLimits {
  /** Largest accepted body, in bytes. */
  maxBytes: number;
  /** The time-outs of bodies: the client has `timeouts.ms` to send the whole body. */
  timeouts: TimeoutQueue;
}

/**
 * The whole body of `req`. Throws the 413 of `payloadTooLarge()` when it is (or says it is)
 * larger than the limit, after cancelling the stream, and the 408 of `bodyTimeout()` when it has
 * not arrived in time (a declared-length body still arriving is then left to the server, which
 * closes the connection once the answer is sent).
 */
export async function readBody(req: Request, limits: BodyLimits): Promise<Uint8Array> {
  const { maxBytes: limit, timeouts } = limits;
  const timeoutMs = timeouts.ms;
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw payloadTooLarge(limit);
  if (declared !== null) return await _readDeclared(req, timeouts);
  // No length given (a chunked body): read it piece by piece, counting. Touching `req.body`
  // makes a stream, which costs more than the whole of a small request: only here.
  if (req.body === null) return new Uint8Array();
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  // On time-out the reader is cancelled, which ends the pending (or next) read as "done": the
  // flag, checked after every read, tells that apart from a body that really ended.
  let timedOut = false;
  const timer = timeouts.add(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  });
  for (;;) {
    let step: ReadableStreamReadResult<Uint8Array>;
    try {
      step = await reader.read();
    } catch (error) {
      timer.cancel();
      throw timedOut ? bodyTimeout(timeoutMs) : error;
    }
    if (timedOut) throw bodyTimeout(timeoutMs);
    const { done, value } = step;
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      timer.cancel();
      await reader.cancel().catch(() => {});
      throw payloadTooLarge(limit);
    }
    parts.push(value);
  }
  timer.cancel();
  return _concat(parts, size);
}

/**
 * A body whose length was declared (and checked against the limit; the server holds the client
 * to it), read whole without making a stream, within the time-out.
 */
async function _readDeclared(req: Request, timeouts: TimeoutQueue): Promise<Uint8Array> {
  let late!: (error: unknown) => void;
  const timedOut = new Promise<never>((_, reject) => (late = reject));
  const timer = timeouts.add(() => late(bodyTimeout(timeouts.ms)));
  try {
    return new Uint8Array(await Promise.race([req.arrayBuffer(), timedOut]));
  } finally {
    timer.cancel();
  }
}

/**
 * The body as a JSON object. Throws a `bad_request` MeshError for an empty body, invalid UTF-8
 * or JSON, nesting too deep (see `parseJsonBody()`), or a value that is not an object.
 */
export function parseBody(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.length === 0) throw new MeshError("bad_request", "Body is empty; send a JSON object");
  const value = parseJsonBody(bytes);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new MeshError("bad_request", "Body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function _concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  const all = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.byteLength;
  }
  return all;
}
