/**
 * The embedded work-queue plane: in-process queues with JetStream work-queue semantics — each
 * job to one consumer, at most `maxInflight` unsettled per consumer, redelivery after the
 * ack-wait, a dead-letter notice after `maxDeliver` deliveries, de-duplication of job ids within
 * a window, and jobs that wait for a consumer to start.
 *
 * Several runtimes in one process share one plane: the first {@linkcode MemoryWorkQueue} is the
 * plane, and {@linkcode MemoryWorkQueue.connection} opens another handle on it (as another
 * process would open its own connection). Time comes from an injected {@linkcode Clock}, so tests
 * drive the ack-wait with `ManualClock` instead of sleeping. Jobs are handed to consumers from a
 * microtask, never from inside `submit()` or a settle call.
 *
 * @example
 * ```ts
 * import { MemoryWorkQueue } from "./memory_work_queue.ts";
 * const plane = new MemoryWorkQueue();
 * const jobs = await plane.queue("demo.worker");
 * await jobs.submit("req-1", new TextEncoder().encode("hello"));
 * const done = Promise.withResolvers<string>();
 * const consumer = jobs.consume({ maxInflight: 1, onJob: (job) => (job.ack(), done.resolve(job.id)) });
 * console.assert(await done.promise === "req-1");
 * await consumer.stop();
 * await plane.close();
 * ```
 *
 * @module
 */

import { type Clock, systemClock, type TimerId } from "../../utils/clock.ts";
import {
  checkJobId,
  checkMaxInflight,
  checkQueueName,
  type ConsumeOptions,
  type Job,
  type QueueConsumer,
  type QueueHandle,
  type QueueOptions,
  resolveQueueOptions,
  type SubmitResult,
  type WorkQueue,
  WorkQueueClosedError,
  WorkQueueFullError,
} from "../work_queue.ts";

/** Options for {@linkcode MemoryWorkQueue}. */
export interface MemoryWorkQueueOptions {
  /** The clock that drives ack-waits, nak delays and the duplicate window. Default: the system clock. */
  clock?: Clock;
}

/** A job as the queue stores it. */
interface _Stored {
  seq: number;
  id: string;
  data: Uint8Array;
  headers: Record<string, string>;
  size: number;
  deliveries: number;
  /** The delivery that holds the job now, if any. */
  holder: _Delivery | undefined;
  /** A nak delay's timer. */
  delayTimer: TimerId | undefined;
}

/** One hand-out of a job to a consumer. */
interface _Delivery {
  stored: _Stored;
  consumer: _Consumer;
  timer: TimerId | undefined;
  /** Set once the worker settled it (frees the consumer's slot). */
  settled: boolean;
}

interface _Consumer {
  options: ConsumeOptions;
  connection: _Connection;
  inflight: number;
  stopped: boolean;
}

interface _Connection {
  closed: boolean;
  consumers: Set<_Consumer>;
}

/** The state the connections of one plane share. */
interface _Plane {
  clock: Clock;
  queues: Map<string, _Queue>;
  closed: boolean;
}

/** The plane a constructor call adopts instead of making one (set by `connection()` only). */
let _adopting: _Plane | undefined;

/**
 * The embedded {@linkcode WorkQueue} (kind `"embedded"`). The instance made with `new` is the
 * plane; `close()` on it closes the plane and every connection; `close()` on a connection stops
 * only the consumers started through it (their unsettled jobs go to others after the ack-wait, as
 * when a process dies).
 */
export class MemoryWorkQueue implements WorkQueue {
  /** Always `"embedded"`. */
  readonly kind = "embedded";
  /** Always `"in-process"`. */
  readonly address = "in-process";
  readonly #plane: _Plane;
  readonly #connection: _Connection = { closed: false, consumers: new Set() };
  readonly #root: boolean;

  /** Makes a new plane (or, when called from {@linkcode connection}, a handle on one). */
  constructor(options: MemoryWorkQueueOptions = {}) {
    const adopted = _adopting;
    _adopting = undefined;
    this.#plane = adopted ??
      { clock: options.clock ?? systemClock, queues: new Map(), closed: false };
    this.#root = adopted === undefined;
  }

  /** Opens another handle on the same plane (what another process's connection would be). */
  connection(): MemoryWorkQueue {
    if (this.#plane.closed) throw new WorkQueueClosedError();
    _adopting = this.#plane;
    return new MemoryWorkQueue();
  }

  queue(name: string, options?: QueueOptions): Promise<QueueHandle> {
    try {
      this.#checkOpen();
      checkQueueName(name);
      const resolved = resolveQueueOptions(options);
      let queue = this.#plane.queues.get(name);
      if (queue === undefined) {
        queue = new _Queue(name, resolved, this.#plane.clock);
        this.#plane.queues.set(name, queue);
      } else if (options !== undefined) {
        queue.options = resolved;
      }
      return Promise.resolve(new _Handle(queue, this.#connection, () => this.#checkOpen()));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  close(): Promise<void> {
    this.#connection.closed = true;
    for (const consumer of this.#connection.consumers) consumer.stopped = true;
    this.#connection.consumers.clear();
    if (this.#root && !this.#plane.closed) {
      this.#plane.closed = true;
      for (const queue of this.#plane.queues.values()) queue.dispose();
    }
    return Promise.resolve();
  }

  #checkOpen(): void {
    if (this.#connection.closed || this.#plane.closed) throw new WorkQueueClosedError();
  }
}

/** One queue's handle for one connection. */
class _Handle implements QueueHandle {
  readonly name: string;
  readonly #queue: _Queue;
  readonly #connection: _Connection;
  readonly #checkOpen: () => void;

  constructor(queue: _Queue, connection: _Connection, checkOpen: () => void) {
    this.name = queue.name;
    this.#queue = queue;
    this.#connection = connection;
    this.#checkOpen = checkOpen;
  }

  submit(
    id: string,
    data: Uint8Array,
    headers: Record<string, string> = {},
  ): Promise<SubmitResult> {
    try {
      this.#checkOpen();
      checkJobId(id);
      return Promise.resolve(this.#queue.submit(id, data, { ...headers }));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  consume(options: ConsumeOptions): QueueConsumer {
    this.#checkOpen();
    checkMaxInflight(options.maxInflight);
    const consumer: _Consumer = {
      options,
      connection: this.#connection,
      inflight: 0,
      stopped: false,
    };
    this.#connection.consumers.add(consumer);
    this.#queue.addConsumer(consumer);
    return {
      stop: () => {
        consumer.stopped = true;
        this.#connection.consumers.delete(consumer);
        return Promise.resolve();
      },
    };
  }

  pending(): Promise<number> {
    try {
      this.#checkOpen();
      return Promise.resolve(this.#queue.jobs.size);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** One queue: its jobs, the ids seen within the duplicate window, its consumers. */
class _Queue {
  readonly name: string;
  options: Required<QueueOptions>;
  /** Every stored job by sequence (handed out or waiting). */
  readonly jobs = new Map<number, _Stored>();
  readonly #clock: Clock;
  /** Sequences of the jobs waiting to be handed out, lowest first. */
  #ready: number[] = [];
  /** Job id → when it was stored, oldest first. */
  readonly #seen = new Map<string, number>();
  #consumers: _Consumer[] = [];
  #next = 0;
  #seq = 0;
  #bytes = 0;
  #scheduled = false;
  #disposed = false;

  constructor(name: string, options: Required<QueueOptions>, clock: Clock) {
    this.name = name;
    this.options = options;
    this.#clock = clock;
  }

  submit(id: string, data: Uint8Array, headers: Record<string, string>): SubmitResult {
    const now = this.#clock.now();
    for (const [seenId, at] of this.#seen) {
      if (now - at < this.options.duplicateWindowMs) break;
      this.#seen.delete(seenId);
    }
    if (this.#seen.has(id)) return { duplicate: true };
    const size = data.byteLength +
      Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length, 0);
    const { maxBytes } = this.options;
    if (maxBytes !== -1 && this.#bytes + size > maxBytes) {
      throw new WorkQueueFullError(
        `Cannot submit the job "${id}": the work queue "${this.name}" is full (maxBytes ${maxBytes})`,
      );
    }
    this.#seen.set(id, now);
    const stored: _Stored = {
      seq: ++this.#seq,
      id,
      data,
      headers,
      size,
      deliveries: 0,
      holder: undefined,
      delayTimer: undefined,
    };
    this.jobs.set(stored.seq, stored);
    this.#bytes += size;
    this.#makeReady(stored);
    return { duplicate: false };
  }

  addConsumer(consumer: _Consumer): void {
    this.#consumers.push(consumer);
    this.#schedule();
  }

  /** Clears every timer (the plane is closed). */
  dispose(): void {
    this.#disposed = true;
    for (const stored of this.jobs.values()) {
      if (stored.delayTimer !== undefined) this.#clock.clearTimeout(stored.delayTimer);
      if (stored.holder?.timer !== undefined) this.#clock.clearTimeout(stored.holder.timer);
    }
    this.#consumers = [];
  }

  #makeReady(stored: _Stored): void {
    stored.holder = undefined;
    const at = this.#ready.findIndex((seq) => seq > stored.seq);
    this.#ready.splice(at === -1 ? this.#ready.length : at, 0, stored.seq);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#disposed) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#dispatch();
    });
  }

  /** Hands waiting jobs to consumers with a free slot, round robin. */
  #dispatch(): void {
    this.#consumers = this.#consumers.filter((c) => !c.stopped && !c.connection.closed);
    while (this.#ready.length > 0 && !this.#disposed) {
      const consumer = this.#pickConsumer();
      if (consumer === undefined) return;
      const stored = this.jobs.get(this.#ready.shift()!)!;
      stored.deliveries += 1;
      if (stored.deliveries > this.options.maxDeliver) {
        this.#remove(stored);
        const { id, data, headers } = stored;
        consumer.options.onDeadLetter?.({ id, data, headers, deliveries: stored.deliveries - 1 });
        continue;
      }
      this.#deliver(stored, consumer);
    }
  }

  #pickConsumer(): _Consumer | undefined {
    const n = this.#consumers.length;
    for (let i = 0; i < n; i++) {
      const consumer = this.#consumers[(this.#next + i) % n]!;
      if (consumer.inflight < consumer.options.maxInflight) {
        this.#next = (this.#next + i + 1) % n;
        return consumer;
      }
    }
    return undefined;
  }

  #deliver(stored: _Stored, consumer: _Consumer): void {
    const delivery: _Delivery = { stored, consumer, timer: undefined, settled: false };
    stored.holder = delivery;
    consumer.inflight += 1;
    const expire = () => {
      delivery.timer = undefined;
      if (stored.holder === delivery) this.#makeReady(stored);
    };
    delivery.timer = this.#clock.setTimeout(expire, this.options.ackWaitMs);
    const settle = (then: () => void) => {
      if (delivery.settled || consumer.connection.closed) return;
      delivery.settled = true;
      consumer.inflight -= 1;
      if (delivery.timer !== undefined) this.#clock.clearTimeout(delivery.timer);
      delivery.timer = undefined;
      if (stored.holder === delivery && !this.#disposed) then();
      this.#schedule();
    };
    const job: Job = {
      id: stored.id,
      data: stored.data,
      headers: stored.headers,
      deliveryCount: stored.deliveries,
      ack: () => settle(() => this.#remove(stored)),
      term: () => settle(() => this.#remove(stored)),
      nak: (delayMs = 0) =>
        settle(() => {
          stored.holder = undefined;
          if (delayMs <= 0) return this.#makeReady(stored);
          stored.delayTimer = this.#clock.setTimeout(() => {
            stored.delayTimer = undefined;
            if (this.jobs.has(stored.seq)) this.#makeReady(stored);
          }, delayMs);
        }),
      working: () => {
        if (delivery.settled || consumer.connection.closed || stored.holder !== delivery) return;
        if (delivery.timer !== undefined) this.#clock.clearTimeout(delivery.timer);
        delivery.timer = this.#clock.setTimeout(expire, this.options.ackWaitMs);
      },
    };
    consumer.options.onJob(job);
  }

  #remove(stored: _Stored): void {
    if (!this.jobs.delete(stored.seq)) return;
    stored.holder = undefined;
    this.#bytes -= stored.size;
  }
}
