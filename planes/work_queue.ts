/**
 * The work-queue plane: durable queues of jobs that a component's instances pull from, with
 * JetStream work-queue semantics.
 *
 * Two implementations pass one contract suite (`tests/work_queue_contract.ts`):
 * `JetStreamWorkQueue` (NATS JetStream, `planes/nats/jetstream_work_queue.ts`) and
 * `MemoryWorkQueue` (in-process, the embedded plane, `planes/memory/memory_work_queue.ts`).
 *
 * A queue stores jobs and hands each one to exactly one consumer (any number of consumers, in any
 * number of processes, share a queue). A consumer holds at most `maxInflight` jobs that it has
 * not settled (acknowledged, refused or terminated). A job that is not settled within the queue's
 * ack-wait — its worker died, or stopped — is handed out again, to any consumer, with its
 * `deliveryCount` one higher; a worker that needs longer says so with `working()`. A job that has
 * been handed out `maxDeliver` times without being acknowledged is removed and given, once, to a
 * consumer's `onDeadLetter` instead (so that the submitter can be told). A job submitted again
 * with the same id within the duplicate window is stored once.
 *
 * The queue only stores and hands out jobs: answers do not go through it. A job carries what the
 * serving side needs to answer on the request plane (e.g. the caller's reply subject) in its
 * opaque `headers`.
 *
 * Queue names are one or more tokens of `[A-Za-z0-9_-]` joined by dots, e.g. `demo.worker`; an
 * implementation documents how a name maps onto its own resources.
 *
 * @example
 * ```ts ignore
 * const jobs = await workQueue.queue("demo.worker", { ackWaitMs: 30_000, maxDeliver: 3 });
 * await jobs.submit("req-1", body, { "Mesh-Reply": inbox });
 * const consumer = jobs.consume({
 *   maxInflight: 4,
 *   onJob: (job) => serve(job).then(() => job.ack(), () => job.nak()),
 *   onDeadLetter: (letter) => tellCaller(letter.headers["Mesh-Reply"], "gave up"),
 * });
 * // later
 * await consumer.stop();
 * ```
 *
 * @module
 */

/** Settings of a queue, fixed by the first process that creates it (later calls update them). */
export interface QueueOptions {
  /**
   * How many times a job is handed out before it is given up: the next time it would be handed
   * out, it goes to `onDeadLetter` instead. Default: 5.
   */
  maxDeliver?: number;
  /** How long a consumer may hold a job without settling it or calling `working()`. Default: 30 000 ms. */
  ackWaitMs?: number;
  /** How long a job id is remembered for de-duplication. Default: 120 000 ms. */
  duplicateWindowMs?: number;
  /**
   * The most bytes (payload and headers) the queue stores; a submit that would go over is refused
   * with a {@linkcode WorkQueueFullError}. Default: no limit.
   */
  maxBytes?: number;
}

/** The defaults of {@linkcode QueueOptions}. */
export const DEFAULT_QUEUE_OPTIONS: Readonly<Required<QueueOptions>> = {
  maxDeliver: 5,
  ackWaitMs: 30_000,
  duplicateWindowMs: 120_000,
  maxBytes: -1,
};

/** What {@linkcode QueueHandle.submit} tells. */
export interface SubmitResult {
  /** True when a job with this id was already stored within the duplicate window (not stored again). */
  duplicate: boolean;
}

/** A job's contents: what the submitter gave. */
export interface JobContents {
  /** The id given at submit (e.g. the request id); unique within the duplicate window. */
  readonly id: string;
  /** The payload, as submitted. */
  readonly data: Uint8Array;
  /** The headers, as submitted (names keep their case; values may be trimmed). */
  readonly headers: Record<string, string>;
}

/** A job handed to a consumer. Exactly one of `ack`, `nak` and `term` settles it; later calls do nothing. */
export interface Job extends JobContents {
  /** 1 the first time the job is handed out, 2 the second, and so on. */
  readonly deliveryCount: number;
  /** Done: the job is removed from the queue. Call it once the answer has been sent. */
  ack(): void;
  /** Not done: the job is handed out again (after `delayMs`, default at once), to any consumer. */
  nak(delayMs?: number): void;
  /** Still working: restarts the ack-wait, so that the job is not handed out again. */
  working(): void;
  /** Never to be done: the job is removed without going to `onDeadLetter`. */
  term(): void;
}

/** A job given up after `maxDeliver` deliveries (see {@linkcode ConsumeOptions.onDeadLetter}). */
export interface DeadLetter extends JobContents {
  /** How many times it was handed out. */
  readonly deliveries: number;
}

/** Options of {@linkcode QueueHandle.consume}. */
export interface ConsumeOptions {
  /** The most jobs this consumer holds unsettled at once (a positive integer). */
  maxInflight: number;
  /** Called for each job handed to this consumer. It must not throw; it settles the job later. */
  onJob: (job: Job) => void;
  /**
   * Called, on one consumer, for a job given up after `maxDeliver` deliveries; the job is removed
   * either way. Without it, such jobs are dropped silently.
   */
  onDeadLetter?: (letter: DeadLetter) => void;
}

/** A running consumer. */
export interface QueueConsumer {
  /**
   * Stops pulling jobs. Jobs already handed out stay this consumer's to settle; those it does not
   * settle are handed out again after the ack-wait. Idempotent.
   */
  stop(): Promise<void>;
}

/** One queue, as a process sees it. */
export interface QueueHandle {
  /** The queue's name. */
  readonly name: string;
  /**
   * Stores a job; resolves once it is stored (durably, for JetStream). `duplicate` is true when
   * a job with this `id` was already stored within the duplicate window.
   */
  submit(id: string, data: Uint8Array, headers?: Record<string, string>): Promise<SubmitResult>;
  /** Starts pulling jobs: at most `maxInflight` unsettled at once, each given to `onJob`. */
  consume(options: ConsumeOptions): QueueConsumer;
  /** How many jobs are stored and not yet acknowledged (handed out or waiting). */
  pending(): Promise<number>;
}

/** The work-queue plane; one per process (or connection), like a `Bus`. */
export interface WorkQueue {
  /** `"jetstream"` or `"embedded"`. */
  readonly kind: string;
  /** Where the plane is, for logs (a server URL, or `"in-process"`). */
  readonly address: string;
  /** Creates the queue `name` when it does not exist yet (idempotent) and returns a handle. */
  queue(name: string, options?: QueueOptions): Promise<QueueHandle>;
  /** Stops every consumer started through this plane and releases it. Idempotent. */
  close(): Promise<void>;
}

/** Thrown when using a work queue that has been closed. */
export class WorkQueueClosedError extends Error {
  constructor(message = "The work queue is closed", options?: ErrorOptions) {
    super(message, options);
    this.name = "WorkQueueClosedError";
  }
}

/** Thrown by `submit` when the queue holds `maxBytes` already. */
export class WorkQueueFullError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WorkQueueFullError";
  }
}

const _NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Throws a `TypeError` unless `name` is a valid queue name (dot-joined `[A-Za-z0-9_-]+` tokens). */
export function checkQueueName(name: string): void {
  if (typeof name !== "string" || !_NAME.test(name)) {
    throw new TypeError(
      `Cannot use the work queue "${name}": a name is dot-separated tokens of A-Z, a-z, 0-9, _ and -`,
    );
  }
}

/**
 * The queue options with defaults filled in; throws a `TypeError` for a value out of range
 * (`maxDeliver` and `ackWaitMs` positive, `duplicateWindowMs` positive, `maxBytes` -1 or positive).
 */
export function resolveQueueOptions(options: QueueOptions = {}): Required<QueueOptions> {
  const resolved = { ...DEFAULT_QUEUE_OPTIONS, ...options };
  for (const key of ["maxDeliver", "ackWaitMs", "duplicateWindowMs"] as const) {
    const value = resolved[key];
    if (!Number.isInteger(value) || value <= 0) {
      throw new TypeError(
        `Cannot use the work queue: ${key} must be a positive integer, not "${value}"`,
      );
    }
  }
  if (
    !Number.isInteger(resolved.maxBytes) || (resolved.maxBytes <= 0 && resolved.maxBytes !== -1)
  ) {
    throw new TypeError(
      `Cannot use the work queue: maxBytes must be -1 or a positive integer, not "${resolved.maxBytes}"`,
    );
  }
  return resolved;
}

/** Throws a `TypeError` unless `id` is a non-empty, single-line job id. */
export function checkJobId(id: string): void {
  if (typeof id !== "string" || id.length === 0 || /[\r\n]/.test(id)) {
    throw new TypeError(`Cannot submit the job "${id}": an id is a non-empty single-line string`);
  }
}

/** Throws a `TypeError` unless `maxInflight` is a positive integer. */
export function checkMaxInflight(maxInflight: number): void {
  if (!Number.isInteger(maxInflight) || maxInflight <= 0) {
    throw new TypeError(
      `Cannot consume the work queue: maxInflight must be a positive integer, not "${maxInflight}"`,
    );
  }
}
