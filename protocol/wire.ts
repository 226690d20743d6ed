/**
 * The request protocol on the bus (DESIGN.md §4; the full description is `docs/protocol.md`).
 *
 * A request is one message to a mailbox (or queue) subject: a small binary envelope naming the
 * request id, the deadline and the attempt, then the JSON body. Its reply subject is a token
 * under the caller's multiplexed inbox. The answer is a stream of frames on that subject, each
 * with an envelope giving its sequence number and kind. Only the rare control messages on an
 * instance's control subject (cancel, probe) use headers.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { BusMessage } from "../planes/bus.ts";
import { parseJsonBody } from "./json_body.ts";
import { decodeStrictUtf8 } from "./strict_utf8.ts";
import { ASCII_MAX, writeAscii } from "../utils/ascii_text.ts";

/**
 * Header names: of a cancel message on an instance's control subject (`requestId`, `kind`), and of
 * a work-queue job, which names the caller's reply subject (`reply`).
 */
export const H = {
  requestId: "Mesh-Request-Id",
  kind: "Mesh-Kind",
  reply: "Mesh-Reply",
} as const;

/**
 * Frame kinds. `final` is `data` and `end` in one message (the common one-chunk answer);
 * `batch` is several chunks that were ready together, as a JSON array, and `batch_end` the same
 * followed by the end; `cancel` travels on an instance's control subject, never on a reply
 * subject.
 */
export type FrameKind =
  | "ack"
  | "data"
  | "final"
  | "end"
  | "error"
  | "heartbeat"
  | "batch"
  | "batch_end";

/** The kind of a control message. */
export const CANCEL = "cancel";

/**
 * The kind of a control message that asks whether the instance is alive: the instance answers at
 * once with an empty message on its reply subject (`router/instance_probes.ts`).
 */
export const PROBE = "probe";

/** A decoded request envelope. */
export interface RequestEnvelope {
  requestId: string;
  /** Unix milliseconds after which the answer is useless. */
  deadline: number;
  attempt: number;
  /** Chunks the caller already has (a resumed stream); 0 normally. */
  resumeFrom: number;
  traceparent?: string;
  /** Where the frames go. */
  reply: string;
  /** The body, untouched. */
  data: Uint8Array;
}

/** A decoded reply frame. */
export interface Frame {
  seq: number;
  kind: FrameKind;
  /** The answering instance; set on the first frame. */
  instance?: string;
  data: Uint8Array;
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * `size` fresh bytes, to be written in full: a slice of `node:buffer`'s shared pool
 * (`Buffer.allocUnsafe`, one 8 KiB slab for many small messages), as a plain `Uint8Array`. In
 * Deno each `new Uint8Array` (and each `TextEncoder.encode`) allocates an ArrayBuffer of its own
 * at about 0.9 µs, a pooled slice about 0.07 µs; every message on the wire is at least one.
 */
function _bytes(size: number): Uint8Array {
  const pooled = Buffer.allocUnsafe(size);
  return new Uint8Array(pooled.buffer, pooled.byteOffset, size);
}

/** Encodes a JSON value for the wire. `undefined` becomes an empty body. */
export function encodeJson(value: unknown): Uint8Array {
  return value === undefined ? EMPTY : encodeText(JSON.stringify(value));
}

/** Encodes text (JSON already written) for the wire, as UTF-8. */
export function encodeText(text: string): Uint8Array {
  if (text.length <= ASCII_MAX) {
    const out = _bytes(text.length);
    if (writeAscii(text, out, 0) === text.length) return out;
  }
  const out = _bytes(Buffer.byteLength(text));
  encoder.encodeInto(text, out);
  return out;
}

/**
 * Decodes a JSON body; an empty body is `undefined`. Throws `bad_request` on bytes that are not
 * UTF-8, text that is not JSON, or nesting deeper than 64 levels.
 */
export function decodeJson(data: Uint8Array): unknown {
  return parseJsonBody(data);
}

/** What a request message says besides its body. */
export interface RequestMeta {
  requestId: string;
  /** Unix milliseconds. */
  deadline: number;
  attempt: number;
  /** Chunks the caller already has (a resumed stream). Default 0. */
  resumeFrom?: number;
  traceparent?: string;
}

// The envelope is a small binary prefix of the payload, not NATS headers: a NATS header block
// costs about 7 µs per message to write and parse (measured with raw nats.js), more than the
// rest of a hop. Layouts (little-endian), then the body:
//   request: "MQ" 1 flags | f64 deadline | u32 attempt | u32 resumeFrom | u16 n, requestId
//            [| u16 n, traceparent when flags & 1]
//   frame:   "MF" 1 kind  | u32 seq | u16 n, instance (n = 0: none)
const _M = 0x4d;
const _Q = 0x51;
const _F = 0x46;
const _VERSION = 1;
const _REQUEST_FIXED = 22;
const _FRAME_FIXED = 10;
const _KIND_CODES: readonly FrameKind[] = [
  "ack",
  "data",
  "final",
  "end",
  "error",
  "heartbeat",
  "batch",
  "batch_end",
];
const _KIND_CODE: Readonly<Record<string, number>> = Object.fromEntries(
  _KIND_CODES.map((kind, code) => [kind, code]),
);
const _MAX_ID_BYTES = 256;

/** Writes `text` at `at` after its u16 byte length; returns the offset after it. */
function _putString(out: Uint8Array, view: DataView, at: number, text: string): number {
  let written = writeAscii(text, out, at + 2);
  if (written < 0) written = encoder.encodeInto(text, out.subarray(at + 2)).written;
  view.setUint16(at, written, true);
  return at + 2 + written;
}

/** Reads a u16-length string at `at`: the string and the offset after it, or undefined. */
function _getString(
  data: Uint8Array,
  view: DataView,
  at: number,
): [string, number] | undefined {
  if (at + 2 > data.length) return undefined;
  const length = view.getUint16(at, true);
  const end = at + 2 + length;
  if (end > data.length) return undefined;
  try {
    return [decodeStrictUtf8(data.subarray(at + 2, end)), end];
  } catch {
    return undefined;
  }
}

/**
 * A request message: the envelope then `body`. Ids longer than 256 bytes are a `RangeError`
 * (the receiver would drop the message).
 */
export function encodeRequest(meta: RequestMeta, body: Uint8Array): Uint8Array {
  const { requestId, traceparent } = meta;
  const most = _REQUEST_FIXED + 3 * requestId.length +
    (traceparent ? 2 + 3 * traceparent.length : 0) + body.length;
  const out = _bytes(most);
  const view = new DataView(out.buffer, out.byteOffset, most);
  out[0] = _M;
  out[1] = _Q;
  out[2] = _VERSION;
  out[3] = traceparent ? 1 : 0;
  view.setFloat64(4, meta.deadline, true);
  view.setUint32(12, meta.attempt, true);
  view.setUint32(16, meta.resumeFrom ?? 0, true);
  let at = _putString(out, view, 20, requestId);
  if (at - 22 > _MAX_ID_BYTES) {
    throw new RangeError(`Request id is longer than ${_MAX_ID_BYTES} bytes: "${requestId}"`);
  }
  if (traceparent) at = _putString(out, view, at, traceparent);
  out.set(body, at);
  return out.subarray(0, at + body.length);
}

/**
 * Decodes a message on a mailbox subject into a request, or returns a string saying why it is
 * not one (the caller counts and drops it; a bad envelope never crashes an actor).
 */
export function decodeRequest(message: BusMessage): RequestEnvelope | string {
  if (!message.reply) return "no reply subject";
  const data = message.data;
  if (data.length < _REQUEST_FIXED || data[0] !== _M || data[1] !== _Q) {
    return "no request envelope";
  }
  if (data[2] !== _VERSION) return `request envelope version ${data[2]}, expected ${_VERSION}`;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const deadline = view.getFloat64(4, true);
  if (!Number.isFinite(deadline) || deadline <= 0) return "bad deadline";
  const attempt = view.getUint32(12, true);
  if (attempt < 1) return "bad attempt";
  const resumeFrom = view.getUint32(16, true);
  const id = _getString(data, view, 20);
  if (!id || id[0] === "" || id[1] - 22 > _MAX_ID_BYTES) return "bad request id";
  let [requestId, at] = id;
  let traceparent: string | undefined;
  if (data[3]! & 1) {
    const trace = _getString(data, view, at);
    if (!trace) return "bad traceparent";
    [traceparent, at] = trace;
  }
  return {
    requestId,
    deadline,
    attempt,
    resumeFrom,
    traceparent,
    reply: message.reply,
    data: data.subarray(at),
  };
}

/** A reply frame: the envelope then `body` (none for `ack`, `end`, `heartbeat`). */
export function encodeFrame(
  seq: number,
  kind: FrameKind,
  instance: string | undefined,
  body: Uint8Array = EMPTY,
): Uint8Array {
  const out = _bytes(_FRAME_FIXED + 3 * (instance?.length ?? 0) + body.length);
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  out[0] = _M;
  out[1] = _F;
  out[2] = _VERSION;
  out[3] = _KIND_CODE[kind]!;
  view.setUint32(4, seq, true);
  const at = _putString(out, view, 8, instance ?? "");
  out.set(body, at);
  return out.subarray(0, at + body.length);
}

/** Decodes a reply frame, or returns `undefined` when the message is not one. */
export function decodeFrame(message: BusMessage): Frame | undefined {
  const data = message.data;
  if (data.length < _FRAME_FIXED || data[0] !== _M || data[1] !== _F || data[2] !== _VERSION) {
    return undefined;
  }
  const kind = _KIND_CODES[data[3]!];
  if (!kind) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const instance = _getString(data, view, 8);
  if (!instance) return undefined;
  return {
    seq: view.getUint32(4, true),
    kind,
    instance: instance[0] || undefined,
    data: data.subarray(instance[1]),
  };
}
