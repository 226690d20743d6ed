/**
 * Serving from the durable work queue (`ServiceArgs.queue`): an instance pulls requests from the
 * queue of each of its endpoints, besides its mailbox, and answers them exactly like requests over
 * the bus (`serveOverBus`, the same frames on the caller's reply subject).
 *
 * A job's data is the request message (envelope and body, `protocol/wire.ts`); its header
 * `Mesh-Reply` is the caller's reply subject. The job is acknowledged once the last frame is out;
 * while its handler runs the actor's ticker tells the queue it is still working (every third of
 * the ack-wait); when the instance is lost under it, the job goes back to the queue for another
 * instance. A job given up after `maxDeliver` deliveries gets an `instance_lost` error frame.
 *
 * @module
 */

import type { QueueConsumer, QueueHandle } from "../planes/work_queue.ts";
import { MeshError } from "../protocol/errors.ts";
import { decodeRequest, encodeFrame, encodeJson, H } from "../protocol/wire.ts";
import { type ReplyLoopHost, serveOverBus } from "./reply_loop.ts";

/** How an instance serves from the work queue. */
export interface QueueServing {
  /** Jobs one instance holds at once (a positive integer). */
  maxInflight: number;
  /** Deliveries of a job before its caller gets `instance_lost`. */
  maxDeliver: number;
  /** Silence after which a job goes to another instance (ms, a positive integer). */
  ackWaitMs: number;
}

/**
 * Starts pulling the jobs of `handle` (the queue of `endpoint`) and serving them as `host`.
 */
export function consumeQueue(
  host: ReplyLoopHost,
  endpoint: string,
  handle: QueueHandle,
  serving: QueueServing,
): QueueConsumer {
  const everyMs = Math.max(50, Math.floor(serving.ackWaitMs / 3));
  return handle.consume({
    maxInflight: serving.maxInflight,
    onJob: (job) => {
      const reply = job.headers[H.reply];
      const envelope = reply
        ? decodeRequest({ subject: handle.name, data: job.data, reply })
        : "no Mesh-Reply header";
      if (typeof envelope === "string") {
        host.log.warn("Dropped a job that is not a request", {
          queue: handle.name,
          reason: envelope,
        });
        job.term();
        return;
      }
      // The handler's `ctx.attempt` is the delivery: 2 and up when an earlier worker was lost.
      envelope.attempt = Math.max(envelope.attempt, job.deliveryCount);
      if (job.deliveryCount > 1) {
        host.log.info("Serving a request its first worker did not finish", {
          request_id: envelope.requestId,
          delivery: job.deliveryCount,
        });
      }
      void serveOverBus(host, endpoint, envelope, {
        working: () => job.working(),
        ack: () => job.ack(),
        nak: () => job.nak(),
        everyMs,
        lastAt: host.clock.now(),
      });
    },
    onDeadLetter: (letter) => {
      const reply = letter.headers[H.reply];
      host.log.warn("A request failed on every worker it was given to", {
        queue: handle.name,
        request_id: letter.id,
        deliveries: letter.deliveries,
      });
      if (!reply) return;
      const error = new MeshError(
        "instance_lost",
        `The request failed on ${letter.deliveries} workers`,
      );
      try {
        host.bus.publish(
          reply,
          encodeFrame(0, "error", host.instanceId, encodeJson(error.toBody())),
        );
      } catch {
        // the bus is closing; the caller's deadline covers it
      }
    },
  });
}
