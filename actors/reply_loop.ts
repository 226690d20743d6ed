/**
 * The reply loop: serves one request that came over the bus and sends the chunks its handler
 * yields back as reply frames on the caller's inbox (DESIGN.md §4). A handler that answers at
 * once sends one `final` frame; one that takes its time gets an `ack` first; a stream ends with
 * `end`, a failure with `error`.
 *
 * A request from the durable work queue (`queue_serving.ts`) is served the same way, with its
 * job: it is never answered `busy` (the queue bounds what an instance takes), the job is
 * acknowledged once the last frame is out, and when the instance is lost under it (failed, or
 * stopped past its grace) it sends nothing more and hands the job back to the queue, which
 * delivers it to another instance.
 *
 * @module
 */

import type { Bus } from "../planes/bus.ts";
import type { Clock } from "../utils/clock.ts";
import type { Logger } from "../utils/logger.ts";
import { MeshError } from "../protocol/errors.ts";
import {
  decodeJson,
  encodeFrame,
  encodeJson,
  type FrameKind,
  type RequestEnvelope,
} from "../protocol/wire.ts";
import { streamFrames } from "./frame_streamer.ts";
import { chunksOf } from "./handler_result.ts";
import type { Inflight, InflightJob, InflightRequests } from "./inflight.ts";
import type { RequestCall } from "./request_context.ts";
import type { InstanceStats } from "./endpoint_stats.ts";

/** What the reply loop needs from the actor that serves the request. */
export interface ReplyLoopHost {
  readonly bus: Bus;
  readonly clock: Clock;
  readonly log: Logger;
  readonly instanceId: string;
  readonly inflight: InflightRequests;
  /** Where each finished request is counted, per endpoint. */
  readonly stats: InstanceStats;
  /** The `busy` error when the actor is at its in-flight limit; otherwise `undefined`. */
  busy(): MeshError | undefined;
  /** Whether the actor serves a request delivered now (running, or draining in a stop). */
  accepting(): boolean;
  /** Calls the endpoint's handler with the request's context. */
  handle(endpoint: string, request: unknown, call: RequestCall): unknown;
}

/** A work-queue job being served: settled once the request is answered (or lost). */
export interface ServedJob extends InflightJob {
  /** Answered (or failed with an answer): the job is done. */
  ack(): void;
  /** The instance was lost under it: deliver it again, to any instance. */
  nak(): void;
}

/**
 * Serves one request envelope: answers `busy` at the in-flight limit, tracks the request while
 * its handler runs, and sends the handler's chunks (or its error) as reply frames. With `job`
 * (a request from the work queue), see the module's notes.
 */
export async function serveOverBus(
  host: ReplyLoopHost,
  endpoint: string,
  envelope: RequestEnvelope,
  job?: ServedJob,
): Promise<void> {
  const { requestId, reply } = envelope;
  const { bus, instanceId } = host;
  const stats = host.stats.endpoint(endpoint);
  const busy = job === undefined ? host.busy() : undefined;
  if (busy) {
    stats.refuse(busy.message);
    try {
      bus.publish(reply, encodeFrame(0, "error", instanceId, encodeJson(busy.toBody())));
    } catch {
      // the bus is closing; the caller's ack timeout covers it
    }
    return;
  }
  const startedAt = stats.start();
  // The message of the error frame the request ends with, if it does.
  let failure: string | undefined;
  const request = host.inflight.track(requestId, envelope.deadline, reply);
  if (job !== undefined) request.job = job;
  const send = (kind: FrameKind, data?: Uint8Array) => {
    if (job !== undefined && _lost(request)) return;
    request.lastSentAt = host.clock.now();
    try {
      publishFrame(bus, instanceId, request, kind, data);
    } catch (error) {
      request.controller.abort(error);
    }
  };
  try {
    // While a graceful stop deregisters, the mailbox still delivers what callers sent before
    // they saw it go: that is served (the drain waits for it), not refused.
    if (!host.accepting()) {
      throw new MeshError("no_instances", `Instance "${instanceId}" is stopping`);
    }
    if (envelope.deadline <= host.clock.now()) {
      throw new MeshError("deadline_exceeded", "The request deadline had already passed");
    }
    const result = host.handle(endpoint, decodeJson(envelope.data), {
      requestId,
      deadline: envelope.deadline,
      attempt: envelope.attempt,
      resumeFrom: envelope.resumeFrom,
      signal: request.controller.signal,
    });
    await streamFrames(chunksOf(result)[Symbol.asyncIterator](), send);
  } catch (error) {
    const reason = request.controller.signal.reason;
    if (request.controller.signal.aborted && reason instanceof MeshError) {
      if (reason.code !== "cancelled") {
        failure = reason.message;
        send("error", encodeJson(reason.toBody()));
      }
    } else if (job !== undefined && !host.accepting()) {
      // A job handed out while the instance stops: another instance takes it.
    } else {
      const meshError = MeshError.from(error);
      if (meshError.code === "internal") {
        host.log.error("Handler failed", { request_id: requestId, endpoint, error });
      }
      failure = meshError.message;
      send("error", encodeJson(meshError.toBody()));
    }
  } finally {
    host.inflight.untrack(request);
    stats.finish(startedAt, failure);
    if (job !== undefined) {
      if (_lost(request) || !host.accepting()) job.nak();
      else job.ack();
    }
  }
}

/** Whether the instance was lost under the request (it failed, or stopped past its grace). */
function _lost(request: Inflight): boolean {
  const reason = request.controller.signal.reason;
  return reason instanceof MeshError && reason.code === "instance_lost";
}

/**
 * Publishes the next reply frame of a request on its reply subject (the first frame names the
 * instance). Throws when the bus cannot send.
 */
export function publishFrame(
  bus: Bus,
  instanceId: string,
  request: Inflight,
  kind: FrameKind,
  data?: Uint8Array,
): void {
  const seq = request.seq++;
  bus.publish(request.reply!, encodeFrame(seq, kind, seq === 0 ? instanceId : undefined, data));
}
