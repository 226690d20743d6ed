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

const EMPTY = new Uint8Array(0);

/** A received nats.js message as a {@linkcode BusMessage} (no-responders status included). */
export function toBusMessage(msg: Msg): BusMessage {
  const subject = msg.subject;
  const data = msg.data;
  const reply = msg.reply || undefined;
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
