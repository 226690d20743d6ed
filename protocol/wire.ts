/**
 * The request protocol on the bus (DESIGN.md §4; the full description is `docs/protocol.md`).
 *
 * A request is one message to a mailbox (or queue) subject, with headers naming the request id,
 * the deadline and the attempt, and a JSON body. Its reply subject is a token under the caller's
 * multiplexed inbox. The answer is a stream of frames on that subject, each with a sequence
 * number and a kind.
 *
 * @module
 */

import type { BusMessage, MeshHeaders } from "../planes/bus.ts";
import { parseJsonBody } from "./json_body.ts";

/** Header names. */
export const H = {
  requestId: "Mesh-Request-Id",
  deadline: "Mesh-Deadline",
  attempt: "Mesh-Attempt",
  resumeFrom: "Mesh-Resume-From",
  traceparent: "traceparent",
  contentType: "Content-Type",
  seq: "Mesh-Seq",
  kind: "Mesh-Kind",
  instance: "Mesh-Instance",
} as const;

/**
 * Frame kinds. `final` is `data` and `end` in one message (the common one-chunk answer);
 * `cancel` travels on an instance's control subject, never on a reply subject.
 */
export type FrameKind = "ack" | "data" | "final" | "end" | "error" | "heartbeat";

const FRAME_KINDS: ReadonlySet<string> = new Set<FrameKind>([
  "ack",
  "data",
  "final",
  "end",
  "error",
  "heartbeat",
]);

/** The kind of a control message. */
export const CANCEL = "cancel";

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

/** Encodes a JSON value for the wire. `undefined` becomes an empty body. */
export function encodeJson(value: unknown): Uint8Array {
  return value === undefined ? EMPTY : encoder.encode(JSON.stringify(value));
}

/**
 * Decodes a JSON body; an empty body is `undefined`. Throws `bad_request` on bytes that are not
 * UTF-8, text that is not JSON, or nesting deeper than 64 levels.
 */
export function decodeJson(data: Uint8Array): unknown {
  return parseJsonBody(data);
}

/** The headers of a request. */
export function requestHeaders(
  requestId: string,
  deadline: number,
  attempt: number,
  traceparent?: string,
  resumeFrom = 0,
): MeshHeaders {
  const headers: MeshHeaders = {
    [H.requestId]: requestId,
    [H.deadline]: String(deadline),
    [H.attempt]: String(attempt),
  };
  if (traceparent) headers[H.traceparent] = traceparent;
  if (resumeFrom > 0) headers[H.resumeFrom] = String(resumeFrom);
  return headers;
}

/**
 * Decodes a message on a mailbox subject into a request, or returns a string saying why it is
 * not one (the caller counts and drops it; a bad envelope never crashes an actor).
 */
export function decodeRequest(message: BusMessage): RequestEnvelope | string {
  if (!message.reply) return "no reply subject";
  const headers = message.headers;
  if (!headers) return "no headers";
  const requestId = headers[H.requestId];
  if (!requestId || requestId.length > 256) return `bad ${H.requestId} header`;
  const deadline = Number(headers[H.deadline]);
  if (!Number.isFinite(deadline) || deadline <= 0) return `bad ${H.deadline} header`;
  const attempt = Number(headers[H.attempt] ?? "1");
  if (!Number.isInteger(attempt) || attempt < 1) return `bad ${H.attempt} header`;
  const resumeFrom = Number(headers[H.resumeFrom] ?? "0");
  if (!Number.isInteger(resumeFrom) || resumeFrom < 0) return `bad ${H.resumeFrom} header`;
  return {
    requestId,
    deadline,
    attempt,
    resumeFrom,
    traceparent: headers[H.traceparent],
    reply: message.reply,
    data: message.data,
  };
}

/** The headers of a reply frame. */
export function frameHeaders(seq: number, kind: FrameKind, instance?: string): MeshHeaders {
  const headers: MeshHeaders = { [H.seq]: String(seq), [H.kind]: kind };
  if (instance) headers[H.instance] = instance;
  return headers;
}

/** Decodes a reply frame, or returns `undefined` when the message is not one. */
export function decodeFrame(message: BusMessage): Frame | undefined {
  const headers = message.headers;
  if (!headers) return undefined;
  const kind = headers[H.kind];
  const seq = Number(headers[H.seq]);
  if (!kind || !FRAME_KINDS.has(kind) || !Number.isInteger(seq) || seq < 0) return undefined;
  return { seq, kind: kind as FrameKind, instance: headers[H.instance], data: message.data };
}
