/**
 * Messages between the {@linkcode BusMessage} of the `Bus` interface and nats.js's `Msg`: headers
 * travel as NATS headers (names keep their case; the first value of a repeated header wins), and
 * the server's "no responders" status (503 with an empty payload) becomes a `noResponders`
 * message. Payloads are handed over without copying.
 *
 * @module
 */

import { headers as natsHeaders, type Msg, type MsgHdrs } from "@nats-io/transport-node";
import type { BusMessage, MeshHeaders } from "../bus.ts";
import { asciiText } from "../../utils/ascii_text.ts";

const EMPTY = new Uint8Array(0);

/** A received nats.js message as a {@linkcode BusMessage} (no-responders status included). */
export function toBusMessage(msg: Msg): BusMessage {
  const raw = (msg as _ParsedMsg)._msg;
  const subject = _text(raw?.subject) ?? msg.subject;
  const data = msg.data;
  const reply = _replyOf(msg, raw);
  const hdrs = msg.headers;
  if (hdrs === undefined) {
    return reply === undefined ? { subject, data } : { subject, reply, data };
  }
  if (hdrs.code === 503 && data.length === 0) {
    return { subject, data: EMPTY, noResponders: true };
  }
  const headers = _fromNatsHeaders(hdrs);
  if (headers === undefined) {
    return reply === undefined ? { subject, data } : { subject, reply, data };
  }
  return reply === undefined ? { subject, headers, data } : { subject, reply, headers, data };
}

/**
 * What nats.js's parser left in a received message: the subject and reply subject as bytes
 * (`Msg.subject` and `Msg.reply` decode them with a `TextDecoder`, a call into the runtime).
 * Not part of nats.js's API: when it is missing, the getters are used.
 */
interface _ParsedMsg {
  _msg?: { subject?: unknown; reply?: unknown };
}

/** The reply subject, if the message has one. */
function _replyOf(msg: Msg, raw: _ParsedMsg["_msg"]): string | undefined {
  if (raw) {
    const bytes = raw.reply;
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) return undefined;
    const text = asciiText(bytes);
    if (text !== undefined) return text;
  }
  return msg.reply || undefined;
}

/** ASCII subject bytes as text, in JavaScript (`utils/ascii_text.ts`); else `undefined`. */
function _text(bytes: unknown): string | undefined {
  return bytes instanceof Uint8Array ? asciiText(bytes) : undefined;
}

/** Mesh headers as NATS headers; `undefined` when there is none to send. */
export function toNatsHeaders(headers: MeshHeaders): MsgHdrs | undefined {
  let out: MsgHdrs | undefined;
  for (const key in headers) {
    const value = headers[key];
    if (typeof value === "string" && Object.hasOwn(headers, key)) {
      (out ??= natsHeaders()).append(key, value);
    }
  }
  return out;
}

/** NATS headers as mesh headers (the first value of each); `undefined` when there is none. */
function _fromNatsHeaders(hdrs: MsgHdrs): MeshHeaders | undefined {
  let out: MeshHeaders | undefined;
  for (const [key, values] of hdrs) {
    const first = values[0];
    if (first !== undefined) (out ??= {})[key] = first;
  }
  return out;
}
