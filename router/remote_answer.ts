/**
 * The answer to one request over the bus, as the caller iterates it: a hand-written async
 * iterator, not an async generator. A generator resumed per frame and per chunk costs a few
 * promise turns each time (its own queue of requests, `await` and `yield` resolutions); this
 * iterator hands a chunk that is already decoded back at once, and waits only for frames.
 *
 * @module
 */

import type { Bus } from "../planes/bus.ts";
import type { LocalCall } from "../protocol/call_options.ts";
import { MeshError } from "../protocol/errors.ts";
import { NotDeliveredError } from "../protocol/not_delivered_error.ts";
import { controlSubject, type EndpointAddress } from "../protocol/names.ts";
import { CANCEL, decodeJson, encodeRequest, type Frame, H } from "../protocol/wire.ts";
import type { PendingReply } from "./reply_inbox.ts";

/** How one request goes out, and where its answer comes back. */
export interface RemoteRequest {
  readonly bus: Bus;
  readonly address: EndpointAddress;
  /** Opens the reply stream, at the first step. */
  open(): PendingReply;
  /** Sends the request message (built here); `reply` is the reply stream's subject. */
  send(message: Uint8Array, reply: string): void | Promise<void>;
  readonly call: LocalCall;
  readonly traceparent: string | undefined;
  /** The request body, encoded. */
  readonly body: Uint8Array;
}

const _DONE: IteratorResult<unknown> = { done: true, value: undefined };

/**
 * The decoded chunks of the reply frames to one request, until the last. Cancelled by
 * `call.signal`; abandoned (`return()`) or failed before its end, it sends a cancel to the
 * instance that took the request. Shared by calls over the bus and through the work queue.
 */
export class RemoteAnswer implements AsyncIterableIterator<unknown> {
  #request: RemoteRequest;
  #pending: PendingReply | undefined;
  #chunks: readonly unknown[] = [];
  #index = 0;
  /** The last frame has come. */
  #over = false;
  /** The instance is done with the request: no cancel is needed. */
  #finished = false;
  #closed = false;

  constructor(request: RemoteRequest) {
    this.#request = request;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<unknown> {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.#closed) return Promise.resolve(_DONE);
    const ready = this.#take();
    if (ready) return Promise.resolve(ready);
    const pending = this.#pending;
    if (pending === undefined) return this.#start();
    return pending.next().then(this.#onFrame, this.#onError);
  }

  return(value?: unknown): Promise<IteratorResult<unknown>> {
    this.#close();
    return Promise.resolve({ done: true, value });
  }

  /** Opens the reply stream, sends the request, and waits for the first frame. */
  #start(): Promise<IteratorResult<unknown>> {
    const { call, traceparent, body } = this.#request;
    const pending = this.#request.open();
    this.#pending = pending;
    call.signal?.addEventListener("abort", this.#onAbort, { once: true });
    let sent: void | Promise<void>;
    try {
      const message = encodeRequest({
        requestId: call.requestId,
        deadline: call.deadline,
        attempt: call.attempt,
        resumeFrom: call.resumeFrom,
        traceparent,
      }, body);
      sent = this.#request.send(message, pending.subject);
    } catch (error) {
      return this.#onError(error);
    }
    const first = sent ? sent.then(() => pending.next()) : pending.next();
    return first.then(this.#onFrame, this.#onError);
  }

  /** The next chunk already decoded, the end, or undefined when a frame must be waited for. */
  #take(): IteratorResult<unknown> | undefined {
    if (this.#index < this.#chunks.length) {
      return { done: false, value: this.#chunks[this.#index++] };
    }
    if (!this.#over) return undefined;
    this.#close();
    return _DONE;
  }

  #onFrame = (frame: Frame): IteratorResult<unknown> | Promise<IteratorResult<unknown>> => {
    if (frame.kind === "error") this.#finished = true; // the instance is done with it
    let step: FrameStep;
    try {
      step = readFrame(frame); // an error frame throws the MeshError it carries
    } catch (error) {
      return this.#onError(error);
    }
    if (step.over) this.#finished = this.#over = true;
    this.#chunks = step.chunks;
    this.#index = 0;
    return this.#take() ?? this.#pending!.next().then(this.#onFrame, this.#onError);
  };

  /** Ends the answer with `error` (a rejection, never a throw: `next()` always returns a promise). */
  #onError = (error: unknown): Promise<never> => {
    if (error instanceof NotDeliveredError) this.#finished = true;
    this.#close();
    return Promise.reject(error);
  };

  #onAbort = () => {
    this.#pending?.fail(new MeshError("cancelled", "The request was cancelled"));
  };

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const pending = this.#pending;
    if (pending === undefined) return;
    const { bus, address, call } = this.#request;
    call.signal?.removeEventListener("abort", this.#onAbort);
    pending.close();
    if (!this.#finished && pending.instance) {
      sendCancel(bus, address, pending.instance, call.requestId);
    }
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
