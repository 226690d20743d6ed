/**
 * The runtime side of shared queues (`actors/shared_queue.ts`): each queue `name` of namespace
 * `ns` is the work queue `<ns>.q.<name>` (JetStream in cluster mode); answers come back over the
 * bus to one subscription per process, `<inbox>.<token>` per item put, and are kept by item id
 * until read (the last 10 000).
 *
 * The end of a queue (`end()`) is the registry key `mesh/<ns>/queues/<name>/end`, kept under the
 * signalling process's lease: takers see it when they find the queue empty.
 *
 * @module
 */

import type { Bus, BusSubscription } from "../planes/bus.ts";
import type { Registry } from "../planes/registry.ts";
import type { Job, QueueHandle, WorkQueue } from "../planes/work_queue.ts";
import type { Registration } from "../actors/registration.ts";
import type {
  PutItemOptions,
  QueueItem,
  SharedQueue,
  SharedQueues,
  TakeOptions,
} from "../actors/shared_queue.ts";
import { MeshError } from "../protocol/errors.ts";
import { newInstanceId, validateName } from "../protocol/names.ts";
import type { Clock } from "../utils/clock.ts";
import type { Logger } from "../utils/logger.ts";

/** The job header that carries an item's answer address. */
export const ANSWER_TO = "Mesh-Answer-To";

const _KEEP = 10_000;
const _IDLE_MS = 250;
/** How long a taker may hold an item without `working()` before another taker gets it. */
export const SHARED_QUEUE_ACK_WAIT_MS = 10_000;
const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

/** The work queue behind the shared queue `name` of `namespace`: `<namespace>.q.<name>`. */
export function sharedQueueName(namespace: string, name: string): string {
  return `${namespace}.q.${name}`;
}

/** What shared queues need from the runtime. */
export interface SharedQueueHost {
  readonly namespace: string;
  readonly bus: Bus;
  readonly registry: Registry;
  readonly registration: Registration;
  readonly clock: Clock;
  readonly log: Logger;
  workQueue(): Promise<WorkQueue>;
  /** Told of each work queue opened (the runtime notes it in the registry). */
  opened?(name: string): void;
}

/** What has arrived for one item put from this process. */
class Answers {
  readonly chunks: unknown[] = [];
  answered = false;
  answer: unknown;
  /** Why there will be no answer (the item was given up), when so. */
  failure?: string;
  #wake: (() => void)[] = [];

  push(kind: string, value: unknown): void {
    if (this.answered) return;
    if (kind === "a") {
      this.answered = true;
      this.answer = value;
    } else if (kind === "e") {
      this.answered = true;
      this.failure = String(value);
    } else this.chunks.push(value);
    for (const wake of this.#wake.splice(0)) wake();
  }

  /** Resolves at the next arrival, or at once when answered. */
  next(): Promise<void> {
    if (this.answered) return Promise.resolve();
    return new Promise((resolve) => this.#wake.push(resolve));
  }
}

/** The shared queues of one runtime. */
export class SharedQueueSet implements SharedQueues {
  #host: SharedQueueHost;
  #queues = new Map<string, RuntimeSharedQueue<unknown>>();
  #handles = new Map<string, Promise<QueueHandle>>();
  #inbox?: { prefix: string; subscription: BusSubscription };
  #byToken = new Map<string, Answers>();
  #byId = new Map<string, Answers>();

  constructor(host: SharedQueueHost) {
    this.#host = host;
  }

  /** The queue `name` (`[A-Za-z0-9_-]+`). */
  queue<T = unknown>(name: string): SharedQueue<T> {
    validateName(name, "queue name");
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new RuntimeSharedQueue(this, name);
      this.#queues.set(name, queue);
    }
    return queue as SharedQueue<T>;
  }

  /** Jobs stored and not done, per work-queue name, for every queue opened here. */
  async depths(): Promise<Map<string, number>> {
    const depths = new Map<string, number>();
    for (const [name, handle] of this.#handles) {
      try {
        depths.set(name, await (await handle).pending());
      } catch {
        // not reachable now: left out
      }
    }
    return depths;
  }

  /** Stops listening for answers. */
  close(): void {
    this.#inbox?.subscription.unsubscribe();
    this.#inbox = undefined;
  }

  get host(): SharedQueueHost {
    return this.#host;
  }

  handle(name: string): Promise<QueueHandle> {
    const full = sharedQueueName(this.#host.namespace, name);
    let handle = this.#handles.get(full);
    if (!handle) {
      handle = this.#host.workQueue().then((plane) =>
        plane.queue(full, { ackWaitMs: SHARED_QUEUE_ACK_WAIT_MS, maxDeliver: 5 })
      );
      handle.then(() => this.#host.opened?.(full), () => this.#handles.delete(full));
      this.#handles.set(full, handle);
    }
    return handle;
  }

  /** A fresh answer address for the item `id`. */
  answerAddress(id: string): string {
    const token = newInstanceId();
    const answers = new Answers();
    this.#byToken.set(token, answers);
    this.#byId.set(id, answers);
    while (this.#byId.size > _KEEP) {
      const [oldId, old] = this.#byId.entries().next().value!;
      this.#byId.delete(oldId);
      for (const [t, a] of this.#byToken) if (a === old) this.#byToken.delete(t);
    }
    return `${this.#listen()}.${token}`;
  }

  answers(id: string): Answers | undefined {
    return this.#byId.get(id);
  }

  #listen(): string {
    if (!this.#inbox) {
      const prefix = this.#host.bus.newInbox();
      const subscription = this.#host.bus.subscribe(`${prefix}.*`, (message) => {
        const token = message.subject.slice(prefix.length + 1);
        const answers = this.#byToken.get(token);
        if (!answers) return;
        try {
          const { k, v } = JSON.parse(_decoder.decode(message.data));
          answers.push(k, v);
          if (k === "a" || k === "e") this.#byToken.delete(token);
        } catch {
          this.#host.log.warn("Dropped an answer that is not JSON", { subject: message.subject });
        }
      });
      this.#inbox = { prefix, subscription };
    }
    return this.#inbox.prefix;
  }
}

/** Sends one answer message (`c` chunk, `a` answer, `e` given up); best effort. */
function publish(bus: Bus, replyTo: string, k: string, v: unknown): void {
  try {
    bus.publish(replyTo, _encoder.encode(JSON.stringify({ k, v: v ?? null })));
  } catch {
    // the bus is closing: the asker's timeout covers it
  }
}

/** The end key of a queue. */
function endKey(namespace: string, name: string): string {
  return `mesh/${namespace}/queues/${name}/end`;
}

class RuntimeSharedQueue<T> implements SharedQueue<T> {
  readonly name: string;
  #set: SharedQueueSet;

  constructor(set: SharedQueueSet, name: string) {
    this.#set = set;
    this.name = name;
  }

  async put(value: T, options: PutItemOptions = {}): Promise<string> {
    const id = options.id ?? newInstanceId() + newInstanceId();
    const replyTo = options.replyTo === undefined ? this.#set.answerAddress(id) : options.replyTo;
    const data = _encoder.encode(JSON.stringify(value ?? null));
    const handle = await this.#set.handle(this.name);
    await handle.submit(id, data, replyTo ? { [ANSWER_TO]: replyTo } : {});
    return id;
  }

  async answer<A = unknown>(
    id: string,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<A> {
    for await (const _ of this.chunks(id, options)) {
      // chunks are not kept here: only the answer
    }
    return this.#set.answers(id)!.answer as A;
  }

  async *chunks(
    id: string,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): AsyncIterable<unknown> {
    const answers = this.#set.answers(id);
    if (!answers) {
      throw new MeshError(
        "not_found",
        `No item "${id}" was put on the queue "${this.name}" from this process`,
      );
    }
    const { clock } = this.#set.host;
    const timeoutMs = options.timeoutMs ?? 120_000;
    let timer: ReturnType<Clock["setTimeout"]> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = clock.setTimeout(() => resolve("late"), timeoutMs);
    });
    const aborted = new Promise<"aborted">((resolve) => {
      if (options.signal?.aborted) resolve("aborted");
      options.signal?.addEventListener("abort", () => resolve("aborted"), { once: true });
    });
    try {
      let seen = 0;
      while (true) {
        while (seen < answers.chunks.length) yield answers.chunks[seen++];
        if (answers.failure !== undefined) {
          throw new MeshError("instance_lost", answers.failure);
        }
        if (answers.answered) return;
        const woke = await Promise.race([answers.next(), late, aborted]);
        if (woke === "late") {
          throw new MeshError(
            "deadline_exceeded",
            `No answer to "${id}" (queue "${this.name}") within ${timeoutMs} ms`,
          );
        }
        if (woke === "aborted") throw options.signal!.reason;
      }
    } finally {
      clock.clearTimeout(timer!);
    }
  }

  async *take(options: TakeOptions = {}): AsyncIterable<QueueItem<T>> {
    const { host } = this.#set;
    const handle = await this.#set.handle(this.name);
    const ready: Job[] = [];
    let wake: (() => void) | undefined;
    const consumer = handle.consume({
      maxInflight: options.maxInflight ?? 1,
      onJob: (job) => {
        ready.push(job);
        wake?.();
      },
      onDeadLetter: (letter) => {
        host.log.warn("An item failed with every taker it was given to", {
          queue: this.name,
          id: letter.id,
          deliveries: letter.deliveries,
        });
        const replyTo = letter.headers[ANSWER_TO];
        if (replyTo) {
          publish(
            host.bus,
            replyTo,
            "e",
            `"${letter.id}" was given up after ${letter.deliveries} takers`,
          );
        }
      },
    });
    const stopped = new Promise<void>((resolve) => {
      if (options.signal?.aborted) resolve();
      options.signal?.addEventListener("abort", () => resolve(), { once: true });
    });
    let stop = false;
    stopped.then(() => (stop = true));
    try {
      while (!stop) {
        const job = ready.shift();
        if (job) {
          const item = this.#item(job);
          if (item) yield item;
          continue;
        }
        let timer: ReturnType<Clock["setTimeout"]> | undefined;
        const idle = await Promise.race([
          new Promise<boolean>((resolve) => {
            wake = () => resolve(false);
            timer = host.clock.setTimeout(() => resolve(true), _IDLE_MS);
          }),
          stopped.then(() => false),
        ]);
        wake = undefined;
        host.clock.clearTimeout(timer!);
        if (
          idle && (options.untilEnd ?? true) && ready.length === 0 &&
          await this.#finished(options.upstream)
        ) {
          return;
        }
      }
    } finally {
      await consumer.stop();
      // Jobs handed over but not yielded go back at once.
      for (const job of ready.splice(0)) job.nak();
    }
  }

  depth(): Promise<number> {
    return this.#set.handle(this.name).then((handle) => handle.pending());
  }

  async end(): Promise<void> {
    const { host } = this.#set;
    await host.registration.register(
      endKey(host.namespace, this.name),
      JSON.stringify({ at: new Date(host.clock.now()).toISOString() }),
    );
  }

  /** Nothing is left, and the end was signalled (or every upstream queue has ended). */
  async #finished(upstream: readonly string[] = []): Promise<boolean> {
    const { host } = this.#set;
    try {
      if ((await this.depth()) !== 0) return false;
      if (await this.#ended(this.name)) return true;
      if (upstream.length === 0) return false;
      for (const name of upstream) {
        if (!await this.#ended(name)) return false;
        if ((await (await this.#set.handle(name)).pending()) !== 0) return false;
      }
      // Whatever the upstream queues fed in before they emptied is here by now.
      return (await this.depth()) === 0;
    } catch (error) {
      host.log.debug("Cannot tell whether the queue has ended", { queue: this.name, error });
      return false;
    }
  }

  async #ended(name: string): Promise<boolean> {
    const { host } = this.#set;
    return (await host.registry.getPrefix(endKey(host.namespace, name))).kvs.length > 0;
  }

  #item(job: Job): QueueItem<T> | undefined {
    let value: T;
    try {
      value = JSON.parse(_decoder.decode(job.data));
    } catch {
      this.#set.host.log.warn("Dropped a queue item that is not JSON", {
        queue: this.name,
        id: job.id,
      });
      job.term();
      return undefined;
    }
    const replyTo = job.headers[ANSWER_TO] || undefined;
    const bus = this.#set.host.bus;
    const send = (k: string, v: unknown) => {
      if (replyTo) publish(bus, replyTo, k, v);
    };
    return {
      id: job.id,
      value,
      delivery: job.deliveryCount,
      replyTo,
      send: (chunk) => send("c", chunk),
      reply: (answer) => send("a", answer),
      done: () => job.ack(),
      retry: (delayMs) => job.nak(delayMs),
      working: () => job.working(),
    };
  }
}
