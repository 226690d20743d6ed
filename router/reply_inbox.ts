/**
 * The caller's multiplexed reply inbox: one subscription per bus connection (`<inbox>.*`) that
 * hands each reply frame to the pending call it belongs to, by the last subject token.
 *
 * One timer scans the pending calls for the three ways a call can go quiet: no first frame
 * within the ack timeout (the instance never took it), no frame within the heartbeat timeout
 * after it was taken (the instance is gone), and the deadline.
 *
 * The same scan notices sooner that an instance is lost: a call that has heard nothing for
 * `quietMs` (no frame, no sign of life) gets its instance probed (`instance_probes.ts`; one probe
 * per instance, shared by its quiet calls). An answer counts as a sign of life for every call to
 * that instance (not as a frame: the heartbeat timeout still catches a call the instance forgot);
 * "no responders" or no answer within the probe timeout fails all of the instance's calls as if
 * the registry had said it was gone, and tells the clients (`onInstanceLost`), which skip it.
 * Nothing is sent while calls answer within `quietMs`, and no timer is set per call.
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
import { SlotTable } from "../utils/slot_table.ts";
import { type Clock, systemClock, type TimerId } from "../utils/clock.ts";
import { MeshError } from "../protocol/errors.ts";
import { decodeFrame, type Frame } from "../protocol/wire.ts";
import { NotDeliveredError } from "../protocol/not_delivered_error.ts";
import {
  InstanceProbes,
  PROBE_TOKEN_PREFIX,
  type ProbeTarget,
  type ProbeVerdict,
} from "./instance_probes.ts";

/** Timing for {@linkcode ReplyInbox}. */
export interface ReplyInboxOptions {
  clock?: Clock;
  /** How long a call waits for its first frame before trying elsewhere. Default 3000 ms. */
  ackTimeoutMs?: number;
  /** Silence after the first frame that means the instance is lost. Default 4000 ms. */
  heartbeatTimeoutMs?: number;
  /** How often pending calls are checked. Default 100 ms. */
  scanMs?: number;
  /**
   * Silence on a call (no frame, no sign of life) after which its instance is probed. Default
   * 300 ms; 0 turns probing off (the ack and heartbeat timeouts remain).
   */
  quietMs?: number;
  /** How long a probe waits for its answer before the instance counts as lost. Default 400 ms. */
  probeTimeoutMs?: number;
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
  /** When a probe last found the instance alive; 0 before. */
  heardAt = 0;
  /** The component of the instance, to probe it; undefined: never probed. */
  probeTarget: ProbeTarget | undefined;
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
  /** Frames that came ahead of their turn (made on the first such frame: most calls have none). */
  #early: Map<number, Frame> | undefined;
  #error: unknown;
  #wake: (() => void) | undefined;
  #inbox: ReplyInbox;
  /** The call's slot in its inbox's table. */
  readonly slot: number;
  /** The last token of `subject`: the slot, then a number used once. */
  readonly token: string;

  constructor(
    inbox: ReplyInbox,
    slot: number,
    token: string,
    subject: string,
    deadline: number,
    now: number,
    queued = false,
  ) {
    this.#inbox = inbox;
    this.queued = queued;
    this.slot = slot;
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
      (this.#early ??= new Map()).set(frame.seq, frame);
      return;
    }
    this.#ready.push(frame);
    this.#expected++;
    const early = this.#early;
    if (early !== undefined && early.size > 0) {
      for (let next = early.get(this.#expected); next; next = early.get(this.#expected)) {
        early.delete(this.#expected);
        this.#ready.push(next);
        this.#expected++;
      }
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
    this.#early?.clear();
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

/** Ends the slot part of a reply token (not a base-36 digit, nor in a probe token's prefix). */
const _SLOT_END = "-";

/** The multiplexed inbox of one bus connection. */
export class ReplyInbox {
  #bus: Bus;
  #clock: Clock;
  #prefix: string;
  #subscription: BusSubscription;
  /** The calls waiting for frames, by the slot their token starts with (see `SlotTable`). */
  #pending = new SlotTable<PendingReply>();
  #counter = 0;
  #timer: TimerId | undefined;
  #disconnected = false;
  #offStatus: () => void;
  #probes: InstanceProbes;
  #lostListeners = new Set<(instance: string) => void>();
  readonly ackTimeoutMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly scanMs: number;
  readonly quietMs: number;
  readonly probeTimeoutMs: number;

  constructor(bus: Bus, options: ReplyInboxOptions = {}) {
    this.#bus = bus;
    this.#clock = options.clock ?? systemClock;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 3000;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 4000;
    this.scanMs = options.scanMs ?? 100;
    this.quietMs = options.quietMs ?? 300;
    this.probeTimeoutMs = options.probeTimeoutMs ?? 400;
    this.#prefix = bus.newInbox();
    this.#probes = new InstanceProbes({
      bus,
      clock: this.#clock,
      prefix: this.#prefix,
      timeoutMs: this.probeTimeoutMs,
      onAlive: (instance, now) => this.#onAlive(instance, now),
      onLost: (instance, verdict) => this.#onLost(instance, verdict),
    });
    this.#subscription = bus.subscribe(`${this.#prefix}.*`, (message) => this.#onMessage(message));
    this.#offStatus = bus.onStatus((status) => this.#onStatus(status));
  }

  /** How many calls are waiting for frames. */
  get size(): number {
    return this.#pending.size;
  }

  /** How many probes this inbox has sent. */
  get probesSent(): number {
    return this.#probes.sent;
  }

  /**
   * Hears of each instance a probe found lost (its calls have failed); returns a function that
   * stops listening.
   */
  onInstanceLost(listener: (instance: string) => void): () => void {
    this.#lostListeners.add(listener);
    return () => this.#lostListeners.delete(listener);
  }

  /**
   * Opens a reply stream for one call (`queued`: through the durable work queue). With
   * `probeTarget` (the instance's component), a quiet call gets its instance probed.
   */
  open(
    deadline: number,
    instance?: string,
    queued?: boolean,
    probeTarget?: ProbeTarget,
  ): PendingReply {
    const now = this.#clock.now();
    const pending = this.#pending.add((slot) => {
      const token = `${slot.toString(36)}${_SLOT_END}${(this.#counter++).toString(36)}`;
      return new PendingReply(this, slot, token, `${this.#prefix}.${token}`, deadline, now, queued);
    });
    pending.instance = instance;
    pending.probeTarget = probeTarget;
    pending.uncertain = this.#disconnected;
    if (this.#timer === undefined) this.#arm();
    return pending;
  }

  /** Forgets a call (its late frames are dropped). */
  release(pending: PendingReply): void {
    if (this.#pending.get(pending.slot) === pending) this.#pending.remove(pending.slot);
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

  /**
   * A probe found `instance` lost: its calls fail like those of an instance the registry says is
   * gone (`instance_lost` once taken, else not delivered — unless the connection dropped while
   * the call waited: then it may have been served, and fails `instance_lost`), and the clients
   * hear of it.
   */
  #onLost(instance: string, verdict: ProbeVerdict): void {
    const why = verdict === "no_responders"
      ? "nobody holds its control subject any more"
      : `it did not answer a probe within ${this.probeTimeoutMs} ms`;
    for (const pending of this.#pending.values()) {
      if (pending.instance !== instance || pending.queued) continue;
      pending.fail(
        pending.acked || pending.uncertain
          ? new MeshError("instance_lost", `Instance "${instance}" was lost mid-request: ${why}`)
          : new NotDeliveredError(
            verdict === "no_responders" ? "no_responders" : "instance_gone",
            instance,
          ),
      );
    }
    for (const listener of this.#lostListeners) listener(instance);
  }

  /** A probe found `instance` alive: a sign of life for each of its calls. */
  #onAlive(instance: string, now: number): void {
    for (const pending of this.#pending.values()) {
      if (pending.instance === instance) pending.heardAt = now;
    }
  }

  /** Unsubscribes and fails what is still pending. */
  close(): void {
    this.#offStatus();
    this.#subscription.unsubscribe();
    this.#probes.close();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const pending of this.#pending.values()) {
      pending.fail(new MeshError("cancelled", "The caller is shutting down"));
    }
    this.#pending.clear();
  }

  #onMessage(message: BusMessage): void {
    const token = message.subject.slice(this.#prefix.length + 1);
    const slotEnd = token.indexOf(_SLOT_END);
    const pending = slotEnd > 0
      ? this.#pending.get(parseInt(token.slice(0, slotEnd), 36))
      : undefined;
    if (!pending || pending.token !== token) {
      if (token.startsWith(PROBE_TOKEN_PREFIX)) this.#probes.answer(token, message);
      return;
    }
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
      // An answer cannot come back now: silence would prove nothing.
      this.#probes.dropAll();
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
        } else {
          this.#probeIfQuiet(pending, now, pending.sentAt);
        }
      } else if (now - pending.lastFrameAt >= this.heartbeatTimeoutMs) {
        pending.fail(
          new MeshError(
            "instance_lost",
            `Instance "${pending.instance}" sent nothing for ${this.heartbeatTimeoutMs} ms`,
          ),
        );
      } else {
        this.#probeIfQuiet(pending, now, pending.lastFrameAt);
      }
    }
    if (this.#pending.size > 0) this.#arm();
  }

  /** Probes the call's instance when it has heard nothing since `since` for `quietMs`. */
  #probeIfQuiet(pending: PendingReply, now: number, since: number): void {
    const target = pending.probeTarget;
    const instance = pending.instance;
    if (target === undefined || instance === undefined || this.quietMs <= 0) return;
    if (this.#disconnected || now - Math.max(since, pending.heardAt) < this.quietMs) return;
    this.#probes.send(instance, target);
  }
}
