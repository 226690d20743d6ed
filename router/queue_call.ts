/**
 * A call through the durable work queue (the `work_queue` policy): no instance is picked. The
 * request message (envelope and body, as over the bus) is stored as a job in the endpoint's queue,
 * under the request id (a retried submit is stored once), with the caller's reply subject in the
 * header `Mesh-Reply`; whichever instance pulls it answers on that subject with the usual frames.
 *
 * The reply stream has no ack or heartbeat timeout (the request may wait for a worker; a worker
 * that dies is replaced by the queue): only the deadline bounds it. A redelivered request restarts
 * the stream (`reply_inbox.ts`). Abandoned, the call sends a cancel to the instance that took it,
 * when one did.
 *
 * @module
 */

import type { Bus } from "../planes/bus.ts";
import { type QueueHandle, WorkQueueFullError } from "../planes/work_queue.ts";
import type { LocalCall } from "../protocol/call_options.ts";
import { MeshError } from "../protocol/errors.ts";
import { type EndpointAddress, formatAddress } from "../protocol/names.ts";
import { H } from "../protocol/wire.ts";
import { RemoteAnswer } from "./remote_answer.ts";
import type { ReplyInbox } from "./reply_inbox.ts";

/** What a queued call needs: the bus, the inbox, and the endpoint's work queue. */
export interface QueueCallHost {
  readonly bus: Bus;
  readonly inbox: ReplyInbox;
  /** The durable work queue of an endpoint. */
  workQueue?(address: EndpointAddress): Promise<QueueHandle>;
}

/**
 * Submits the request to the work queue of `address` and yields the decoded chunks of the answer.
 * An `error` frame is thrown as the `MeshError` it carries; a queue that refuses the job (full)
 * is `busy`, one that cannot be reached `internal`, an id the queue already holds (another call's)
 * `bad_request`.
 */
export async function* queueCall(
  host: QueueCallHost,
  address: EndpointAddress,
  body: Uint8Array,
  call: LocalCall,
  traceparent: string | undefined,
): AsyncGenerator<unknown> {
  const { bus, inbox } = host;
  if (call.signal?.aborted) throw new MeshError("cancelled", "The request was cancelled");
  yield* new RemoteAnswer({
    bus,
    address,
    open: () => inbox.open(call.deadline, undefined, true),
    send: (message, reply) => _submit(host, address, call.requestId, message, reply),
    call,
    traceparent,
    body,
  });
}

/** Stores the job; a failure is the call's `MeshError`. */
async function _submit(
  host: QueueCallHost,
  address: EndpointAddress,
  requestId: string,
  message: Uint8Array,
  reply: string,
): Promise<void> {
  const target = formatAddress(address);
  if (!host.workQueue) {
    throw new MeshError("internal", `Cannot queue a request to "${target}": no work queue here`);
  }
  try {
    const handle = await host.workQueue(address);
    const { duplicate } = await handle.submit(requestId, message, { [H.reply]: reply });
    if (duplicate) {
      // Another call stored this id (its answer goes to that call): this one would never end.
      throw new MeshError(
        "bad_request",
        `A request with the id "${requestId}" is already in the work queue of "${target}": ` +
          "request ids must be unique",
      );
    }
  } catch (error) {
    if (error instanceof MeshError) throw error;
    if (error instanceof WorkQueueFullError) {
      throw new MeshError("busy", `The work queue of "${target}" is full`, { cause: error });
    }
    throw new MeshError(
      "internal",
      `Cannot queue a request to "${target}": ${error instanceof Error ? error.message : error}`,
      { cause: error },
    );
  }
}
