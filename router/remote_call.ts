/**
 * One attempt of a call over the bus: the request goes to an instance's mailbox (or to the
 * component's queue subject), and the reply frames that come back on the shared inbox become
 * chunks. A call abandoned before its end sends a cancel to the instance's control subject.
 *
 * @module
 */

import type { Bus } from "../planes/bus.ts";
import type { LocalCall } from "../protocol/call_options.ts";
import { MeshError } from "../protocol/errors.ts";
import type { InstanceInfo } from "../protocol/instance_info.ts";
import { controlSubject, type EndpointAddress, queueSubject } from "../protocol/names.ts";
import { NotDeliveredError } from "../protocol/not_delivered_error.ts";
import { CANCEL, decodeJson, encodeRequest, type Frame, H } from "../protocol/wire.ts";
import type { PendingReply, ReplyInbox } from "./reply_inbox.ts";

/** What a remote call needs: the bus, and the inbox the replies come back on. */
export interface RemoteCallHost {
  readonly bus: Bus;
  readonly inbox: ReplyInbox;
}

/**
 * Sends one attempt to `target`'s mailbox, or to the queue subject of `address` when there is no
 * target, and yields the decoded chunks of the reply. An `error` frame is thrown as the
 * `MeshError` it carries; a request nobody took throws a `NotDeliveredError`.
 */
export function remoteCall(
  host: RemoteCallHost,
  address: EndpointAddress,
  target: InstanceInfo | undefined,
  body: Uint8Array,
  call: LocalCall,
  traceparent: string | undefined,
): AsyncGenerator<unknown> {
  const { bus, inbox } = host;
  const subject = target?.subject ?? queueSubject(address);
  return answerOf(
    bus,
    address,
    // The address names the component: a call that goes quiet gets its instance probed.
    () => inbox.open(call.deadline, target?.instance, false, address),
    call,
    (message, reply) => bus.publish(subject, message, { reply }),
    traceparent,
    body,
  );
}

/**
 * The answer to one request sent by `send` (the request message is built here; `reply` is the
 * subject of the reply stream `open` makes, at the first step): the decoded chunks of its reply
 * frames, until the last. Cancelled by
 * `call.signal`; a call abandoned before its end sends a cancel to the instance that took it.
 * Shared by calls over the bus and through the work queue.
 */
export async function* answerOf(
  bus: Bus,
  address: EndpointAddress,
  open: () => PendingReply,
  call: LocalCall,
  send: (message: Uint8Array, reply: string) => void | Promise<void>,
  traceparent: string | undefined,
  body: Uint8Array,
): AsyncGenerator<unknown> {
  const pending = open();
  const onAbort = () => pending.fail(new MeshError("cancelled", "The request was cancelled"));
  call.signal?.addEventListener("abort", onAbort, { once: true });
  let finished = false;
  try {
    const message = encodeRequest({
      requestId: call.requestId,
      deadline: call.deadline,
      attempt: call.attempt,
      resumeFrom: call.resumeFrom,
      traceparent,
    }, body);
    const sent = send(message, pending.subject);
    if (sent) await sent;
    for (;;) {
      const frame = await pending.next();
      if (frame.kind === "error") finished = true; // the instance is done with it
      const step = readFrame(frame);
      if (step.over) finished = true;
      for (const chunk of step.chunks) yield chunk;
      if (step.over) return;
    }
  } catch (error) {
    if (error instanceof NotDeliveredError) finished = true;
    throw error;
  } finally {
    call.signal?.removeEventListener("abort", onAbort);
    pending.close();
    if (!finished && pending.instance) sendCancel(bus, address, pending.instance, call.requestId);
  }
}

/** What one reply frame means to the caller: the chunks it carries, and whether it ends the answer. */
export interface FrameStep {
  readonly chunks: readonly unknown[];
  readonly over: boolean;
}

const _NOTHING: FrameStep = { chunks: [], over: false };
const _END: FrameStep = { chunks: [], over: true };

/**
 * Reads one reply frame (`docs/protocol.md`): `ack` and `heartbeat` carry nothing, `data` and
 * `final` one chunk, `batch` and `batch_end` several, `end` none; `final`, `batch_end` and `end`
 * end the answer. An `error` frame is thrown as the `MeshError` it carries (check `kind` first
 * to count it as the end).
 */
export function readFrame(frame: Frame): FrameStep {
  switch (frame.kind) {
    case "ack":
    case "heartbeat":
      return _NOTHING;
    case "data":
      return { chunks: [decodeJson(frame.data)], over: false };
    case "final":
      return { chunks: [decodeJson(frame.data)], over: true };
    case "batch":
      return { chunks: decodeJson(frame.data) as unknown[], over: false };
    case "batch_end":
      return { chunks: decodeJson(frame.data) as unknown[], over: true };
    case "end":
      return _END;
    case "error":
      throw MeshError.fromBody(decodeJson(frame.data));
  }
}

/** Tells the instance to stop working on a request nobody will read. */
export function sendCancel(
  bus: Bus,
  address: EndpointAddress,
  instance: string,
  requestId: string,
): void {
  try {
    bus.publish(
      controlSubject(address.namespace, address.component, instance),
      new Uint8Array(0),
      { headers: { [H.requestId]: requestId, [H.kind]: CANCEL } },
    );
  } catch {
    // The bus is closed: the instance's deadline will stop the work.
  }
}
