/**
 * The caller's multiplexed reply inbox: one subscription per bus connection (`<inbox>.*`) that
 * hands each reply frame to the pending call it belongs to, by the last subject token.
 *
 * One timer scans the pending calls for the three ways a call can go quiet: no first frame
 * within the ack timeout (the instance never took it), no frame within the heartbeat timeout
 * after it was taken (the instance is gone), and the deadline.
 *
 * No first frame is proof that the instance never took the request only while the connection
 * held: when it dropped while a call was waiting (or the call was sent while it was down), the
 * request may have reached a handler whose frames the bus then lost (NATS delivers at most once).
 * Such a call fails with `instance_lost` instead of being retried elsewhere, so that a request
 * that reached a handler is never run twice (docs/protocol.md).
 *
 * A call through the durable work queue (`queued`) has neither timeout: its request may wait in
 * the queue for a worker, and a worker that dies is replaced by the queue, which hands the request
 * to another one; only the deadline bounds it. A first frame from a new worker before any chunk
 * arrived (the request was delivered again) restarts the stream from that worker's frames.
 *
 * @module
 */

import type { Bus, BusMessage, BusStatus, BusSubscription } from "../planes/bus.ts";
import { type Clock, systemClock, type TimerId } from "../utils/clock.ts";
import { MeshError } from "../protocol/errors.ts";
import { decodeFrame, type Frame } from "../protocol/wire.ts";
import { NotDeliveredError } from "../protocol/not_delivered_error.ts";

/** Timing for {@linkcode ReplyInbox}. */
export interface ReplyInboxOptions {
  clock?: Clock;
  /** How long a call waits for its first frame before trying elsewhere. Default 3000 ms. */
  ackTimeoutMs?: number;
  /** Silence after the first frame that means the instance is lost. Default 4000 ms. */
  heartbeatTimeoutMs?: number;
  /** How often pending calls are checked. Default 100 ms. */
  scanMs?: number;
}

/** One call's reply stream. */
export class PendingReply {
  /** The reply subject to publish the request with. */
  readonly subject: string;
  /** The instance the request went to (updated from the first frame for queue calls). */
  instance: string | undefined;
  readonly deadline: number;
  /** When it was sent (for the ack timeout). */
  readonly sentAt: number;
  /** When the last frame arrived; 0 before the first. */
  lastFrameAt = 0;
  /**
   * The bus connection dropped while this call was waiting, or was down when it was sent: without
   * a frame, the caller cannot tell whether the request reached a handler.
   */
  uncertain = false;
  /**
   * Through the durable work queue: no ack or heartbeat timeout, and a request delivered again
   * to another worker before it answered restarts the stream from the new worker's frames.
   */
  readonly queued: boolean;
  /** Whether an answer frame (a chunk, the end or an error) has arrived in order. */
  answered = false;
  #expected = 0;
  #ready: Frame[] = [];
  #early = new Map<number, Frame>();
  #error: unknown;
  #wake: (() => void) | undefined;
  #inbox: ReplyInbox;
  readonly token: string;

  constructor(
    inbox: ReplyInbox,
    token: string,
    subject: string,
    deadline: number,
    now: number,
    queued = false,
  ) {
    this.#inbox = inbox;
    this.queued = queued;
    this.token = token;
    this.subject = subject;
    this.deadline = deadline;
    this.sentAt = now;
  }

  /** Whether any frame has arrived (the instance took the request). */
  get acked(): boolean {
    return this.lastFrameAt !== 0;
  }

  /** Delivers a frame, in sequence order; duplicates are dropped. */
  push(frame: Frame, now: number): void {
    if (this.queued && frame.instance !== undefined && this.lastFrameAt !== 0) {
      if (!this.#redelivered(frame)) return;
    }
    if (this.#error !== undefined || frame.seq < this.#expected) return;
    this.lastFrameAt = now;
    if (frame.instance) this.instance = frame.instance;
    if (frame.seq > this.#expected) {
      this.#early.set(frame.seq, frame);
      return;
    }
    this.#ready.push(frame);
    this.#expected++;
    for (let next = this.#early.get(this.#expected); next; next = this.#early.get(this.#expected)) {
      this.#early.delete(this.#expected);
      this.#ready.push(next);
      this.#expected++;
    }
    if (this.queued && !this.answered) {
      this.answered = this.#ready.some((f) => f.kind !== "ack" && f.kind !== "heartbeat");
    }
    this.#wake?.();
  }

  /**
   * A queued call got a first frame (it names its instance) after it had frames already: the
   * queue delivered the request again, because its worker died (or a dead-letter notice came).
   * Before any answer frame, the stream restarts from this frame (true: push it); after one,
   * the call fails `instance_lost` (a chunk may be missing or repeated).
   */
  #redelivered(frame: Frame): boolean {
    if (this.#error !== undefined) return false;
    if (this.answered) {
      this.fail(
        new MeshError(
          "instance_lost",
          `Instance "${this.instance}" was lost mid-answer; the work queue gave the request to ` +
            `"${frame.instance}"`,
        ),
      );
      return false;
    }
    this.#ready = [];
    this.#early.clear();
    this.#expected = 0;
    return true;
  }

  /** Ends the stream with an error; the next `next()` throws it. */
  fail(error: unknown): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    this.#wake?.();
  }

  /** The next frame; throws the error the call failed with. */
  async next(): Promise<Frame> {
    for (;;) {
      const frame = this.#ready.shift();
      if (frame) return frame;
      if (this.#error !== undefined) throw this.#error;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }

  /** Stops routing frames to this call. */
  close(): void {
    this.#inbox.release(this);
  }
}

/** The multiplexed inbox of one bus connection. */
export class ReplyInbox {
  #bus: Bus;
  #clock: Clock;
  #prefix: string;
  #subscription: BusSubscription;
  #pending = new Map<string, PendingReply>();
  #counter = 0;
  #timer: TimerId | undefined;
  #disconnected = false;
  #offStatus: () => void;
  readonly ackTimeoutMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly scanMs: number;

  constructor(bus: Bus, options: ReplyInboxOptions = {}) {
    this.#bus = bus;
    this.#clock = options.clock ?? systemClock;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 3000;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 4000;
    this.scanMs = options.scanMs ?? 100;
    this.#prefix = bus.newInbox();
    this.#subscription = bus.subscribe(`${this.#prefix}.*`, (message) => this.#onMessage(message));
    this.#offStatus = bus.onStatus((status) => this.#onStatus(status));
  }

  /** How many calls are waiting for frames. */
  get size(): number {
    return this.#pending.size;
  }

  /** Opens a reply stream for one call (`queued`: through the durable work queue). */
  open(deadline: number, instance?: string, queued?: boolean): PendingReply {
    const token = (this.#counter++).toString(36);
    const pending = new PendingReply(
      this,
      token,
      `${this.#prefix}.${token}`,
      deadline,
      this.#clock.now(),
      queued,
    );
    pending.instance = instance;
    pending.uncertain = this.#disconnected;
    this.#pending.set(token, pending);
    if (this.#timer === undefined) this.#arm();
    return pending;
  }

  /** Forgets a call (its late frames are dropped). */
  release(pending: PendingReply): void {
    this.#pending.delete(pending.token);
  }

  /** Fails every call on `instance`: the registry says it is gone. */
  failInstance(instance: string): void {
    for (const pending of this.#pending.values()) {
      if (pending.instance !== instance) continue;
      // A queued request whose worker is gone before it answered is delivered again.
      if (pending.queued && !pending.answered) continue;
      pending.fail(
        pending.acked
          ? new MeshError("instance_lost", `Instance "${instance}" went away mid-request`)
          : new NotDeliveredError("instance_gone", instance),
      );
    }
  }

  /** Unsubscribes and fails what is still pending. */
  close(): void {
    this.#offStatus();
    this.#subscription.unsubscribe();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const pending of this.#pending.values()) {
      pending.fail(new MeshError("cancelled", "The caller is shutting down"));
    }
    this.#pending.clear();
  }

  #onMessage(message: BusMessage): void {
    const token = message.subject.slice(this.#prefix.length + 1);
    const pending = this.#pending.get(token);
    if (!pending) return;
    if (message.noResponders) {
      pending.fail(new NotDeliveredError("no_responders", pending.instance));
      return;
    }
    const frame = decodeFrame(message);
    if (frame) pending.push(frame, this.#clock.now());
  }

  #onStatus(status: BusStatus): void {
    if (status === "disconnected" || status === "reconnecting") {
      this.#disconnected = true;
      for (const pending of this.#pending.values()) pending.uncertain = true;
    } else if (status === "reconnected") {
      this.#disconnected = false;
    }
  }

  #arm(): void {
    this.#timer = this.#clock.setTimeout(() => this.#scan(), this.scanMs);
  }

  #scan(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    for (const pending of this.#pending.values()) {
      if (now >= pending.deadline) {
        pending.fail(new MeshError("deadline_exceeded", "The request deadline passed"));
      } else if (pending.queued) {
        // only the deadline bounds a call through the work queue
      } else if (!pending.acked) {
        if (now - pending.sentAt >= this.ackTimeoutMs) {
          pending.fail(
            pending.uncertain
              ? new MeshError(
                "instance_lost",
                `No answer from instance "${
                  pending.instance ?? "(queue)"
                }" within ${this.ackTimeoutMs} ms of a request sent around a loss of the ` +
                  "connection to the bus: it may have been served, so it is not retried",
              )
              : new NotDeliveredError("no_ack", pending.instance),
          );
        }
      } else if (now - pending.lastFrameAt >= this.heartbeatTimeoutMs) {
        pending.fail(
          new MeshError(
            "instance_lost",
            `Instance "${pending.instance}" sent nothing for ${this.heartbeatTimeoutMs} ms`,
          ),
        );
      }
    }
    if (this.#pending.size > 0) this.#arm();
  }
}
