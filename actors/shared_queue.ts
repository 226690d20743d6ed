/**
 * Shared queues (`ctx.queue(name)`, `runtime.queue(name)`): named, durable queues of values that
 * any process of a namespace puts on and any number of takers share, each item going to one taker
 * (HPE Dragon's queues in seed 004: a prompt queue that inference workers greedily take from, a
 * response queue that response workers drain). They ride the work-queue plane (JetStream in
 * cluster mode), so an item whose taker dies goes to another taker.
 *
 * An item may carry a reply address: whoever takes it (or takes something made from it, carrying
 * the address on) can `send` chunks and `reply` a final answer to whoever put it, who reads the
 * answer back by the item's id.
 *
 * @example
 * ```ts ignore
 * const prompts = ctx.queue<{ prompt: string }>("prompts");
 * const id = await prompts.put({ prompt: "hello" });
 * const answer = await prompts.answer(id); // whatever a taker replied
 *
 * // a taker: greedy, one at a time, until the end is signalled and the queue is empty
 * for await (const item of prompts.take({ signal: ctx.signal })) {
 *   item.reply({ text: item.value.prompt.toUpperCase() });
 *   item.done();
 * }
 * ```
 *
 * @module
 */

/** Options of {@linkcode SharedQueue.put}. */
export interface PutItemOptions {
  /** The item's id (unique within the queue's duplicate window); default a fresh one. */
  id?: string;
  /**
   * Where answers to this item go: another item's `replyTo` (to pass an answer address on), or
   * `null` for none. Default: this process, so that `answer(id)` reads the answer back.
   */
  replyTo?: string | null;
}

/** Options of {@linkcode SharedQueue.take}. */
export interface TakeOptions {
  /** Items held at once before the next is taken (default 1: greedy, one at a time). */
  maxInflight?: number;
  /** Stops taking when it aborts (items held stay the taker's to settle). */
  signal?: AbortSignal;
  /**
   * Ends the iteration once the end is signalled (`end()`) and the queue is empty (default true).
   * With false, taking goes on until `signal` aborts.
   */
  untilEnd?: boolean;
  /**
   * Queues that feed this one (e.g. `["prompts"]` for a response queue): the end of all of them
   * (signalled, and empty) also ends this one once it is empty, with no `end()` of its own.
   */
  upstream?: readonly string[];
}

/** One item, as a taker holds it. Exactly one of `done` and `retry` settles it. */
export interface QueueItem<T> {
  readonly id: string;
  readonly value: T;
  /** 1 the first time it is handed out; 2 and up when an earlier taker did not settle it. */
  readonly delivery: number;
  /** Where answers go, when the item has an answer address (pass it on with `put`). */
  readonly replyTo?: string;
  /** Sends one chunk of the answer to whoever put the item (best effort, in order). */
  send(chunk: unknown): void;
  /** Sends the final answer to whoever put the item. */
  reply(answer: unknown): void;
  /** Done: the item leaves the queue. */
  done(): void;
  /** Not done: the item goes back to the queue for any taker (after `delayMs`). */
  retry(delayMs?: number): void;
  /** Still working: keeps the item from being handed to another taker for another ack-wait. */
  working(): void;
}

/** A named shared queue. */
export interface SharedQueue<T = unknown> {
  /** The queue's name, e.g. `prompts`. */
  readonly name: string;
  /** Puts a value on the queue; resolves with its id once it is stored. */
  put(value: T, options?: PutItemOptions): Promise<string>;
  /**
   * The final answer a taker replied to the item `id` put from this process (waits for it;
   * rejects with a `MeshError` `deadline_exceeded` after `timeoutMs`, default 120 s).
   */
  answer<A = unknown>(
    id: string,
    options?: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<A>;
  /** The chunks sent to the item `id` so far and from now on, ending with its answer. */
  chunks(
    id: string,
    options?: { timeoutMs?: number; signal?: AbortSignal },
  ): AsyncIterable<unknown>;
  /** Takes items as they come (see {@linkcode TakeOptions}). */
  take(options?: TakeOptions): AsyncIterable<QueueItem<T>>;
  /** Items stored and not yet done (waiting or held). */
  depth(): Promise<number>;
  /** Signals the end: takers with `untilEnd` stop once the queue is empty. */
  end(): Promise<void>;
}

/** Opens shared queues by name (the runtime). */
export interface SharedQueues {
  queue<T = unknown>(name: string): SharedQueue<T>;
}
