/**
 * One attempt of a call over the bus: the request goes to an instance's mailbox (or to the
 * component's queue subject), and the reply frames that come back on the shared inbox become
 * chunks. A call abandoned before its end sends a cancel to the instance's control subject.
 *
 * @module
 */

import type { Bus } from "../planes/bus.ts";
import type { LocalCall } from "../protocol/call_options.ts";
import type { InstanceInfo } from "../protocol/instance_info.ts";
import { type EndpointAddress, queueSubject } from "../protocol/names.ts";
import { RemoteAnswer } from "./remote_answer.ts";
import type { ReplyInbox } from "./reply_inbox.ts";

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
): AsyncIterableIterator<unknown> {
  const { bus, inbox } = host;
  const subject = target?.subject ?? queueSubject(address);
  return new RemoteAnswer({
    bus,
    address,
    // The address names the component: a call that goes quiet gets its instance probed.
    open: () => inbox.open(call.deadline, target?.instance, false, address),
    send: (message, reply) => bus.publish(subject, message, { reply }),
    call,
    traceparent,
    body,
  });
}
