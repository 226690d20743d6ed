/**
 * The embedded request plane: an in-process {@linkcode Bus} with NATS subject semantics.
 *
 * A `new MemoryBus()` creates a plane; {@linkcode MemoryBus.connection} opens another handle on the
 * same plane (what a second NATS connection is to a server). Each handle owns its subscriptions,
 * its status listeners and its closed state; closing one handle leaves the others working.
 *
 * Semantics, as on NATS:
 * - `*` matches one token and `>` the rest (one or more tokens) in subscriptions.
 * - Every plain subscriber gets the message; each queue group (by name, across all matching
 *   subscriptions) hands it to one member, chosen at random.
 * - A message published with a `reply` that reaches no subscriber produces a no-responders notice
 *   (`{subject: reply, data: empty, noResponders: true}`) on one of the *publishing handle's*
 *   subscriptions that match the reply subject, as the NATS server does (it sends the 503 status
 *   only on the publisher's connection).
 * - Delivery is asynchronous: `publish` queues; a microtask delivers the queued messages in
 *   publication order (one FIFO for the whole plane, so per-publisher order holds). After many
 *   deliveries without a macrotask turn the plane yields once through a timer, so a publish loop
 *   between handlers cannot starve timers and I/O.
 * - Payloads and headers are handed over as given (same objects, never copied); an empty headers
 *   object counts as no headers, as on the wire.
 *
 * @example
 * ```ts
 * import { MemoryBus } from "./memory_bus.ts";
 * const server = new MemoryBus();
 * const client = server.connection();
 * server.subscribe("greet.*", (m) => server.publish(m.reply!, m.data));
 * const inbox = client.newInbox();
 * client.subscribe(inbox, (m) => console.log(new TextDecoder().decode(m.data)));
 * client.publish("greet.world", new TextEncoder().encode("hello"), { reply: inbox });
 * await client.flush();
 * ```
 *
 * @module
 */

import {
  type Bus,
  BusClosedError,
  type BusMessage,
  type BusStatus,
  type BusSubscription,
  checkSubscribeSubject,
  type MeshHeaders,
  type PublishOptions,
  type SubscribeOptions,
} from "../bus.ts";
import { createLogger, type Logger } from "../../utils/logger.ts";
import { type Random, systemRandom } from "../../utils/random.ts";

/** Options for {@linkcode MemoryBus}. */
export interface MemoryBusOptions {
  /** Where a subscriber that throws is reported. Default: a logger writing to standard error. */
  logger?: Logger;
  /**
   * Picks the member of a queue group that gets a message. Default: {@linkcode systemRandom}.
   * Handles opened with {@linkcode MemoryBus.connection} share their plane's.
   */
  random?: Random;
}

const EMPTY = new Uint8Array(0);
const WHITESPACE = /\s/;
/** The plane that the next `MemoryBus` constructed joins (set only by `connection()`). */
let _joining: _Plane | undefined;
/** Deliveries after which the plane yields to the event loop once (through a timer). */
const DELIVERIES_PER_TURN = 4096;

/** A subscription on the plane. */
class _Subscription implements BusSubscription {
  active = true;
  constructor(
    readonly handle: MemoryBus,
    readonly owned: Set<_Subscription>,
    readonly plane: _Plane,
    readonly subject: string,
    readonly queue: string | undefined,
    readonly onMessage: (message: BusMessage) => void,
    readonly onEnd?: (error: Error) => void,
  ) {}

  unsubscribe(): void {
    if (!this.active) return;
    this.active = false;
    this.plane.remove(this);
    this.owned.delete(this);
  }
}

/** The subscriptions that share one subject (exact) or one pattern (wildcard). */
interface _Entry {
  plain: _Subscription[];
  queues: Map<string, _Subscription[]>;
  /** Pattern tokens; only for wildcard entries. */
  tokens?: string[];
}

/** The shared state of one in-process plane. */
class _Plane {
  readonly exact = new Map<string, _Entry>();
  readonly wildcard = new Map<string, _Entry>();
  /** Pending deliveries, flattened: subscription, message, subscription, message, ... */
  pending: (_Subscription | BusMessage)[] = [];
  enqueued = 0;
  delivered = 0;
  scheduled = false;
  sinceTurn = 0;
  timer: ReturnType<typeof setTimeout> | undefined;
  waiters: { target: number; resolve: () => void }[] = [];
  openHandles = 0;

  constructor(readonly logger: Logger, readonly random: Random) {}

  add(sub: _Subscription): void {
    const isWildcard = _hasWildcard(sub.subject);
    const map = isWildcard ? this.wildcard : this.exact;
    let entry = map.get(sub.subject);
    if (!entry) {
      entry = { plain: [], queues: new Map() };
      if (isWildcard) entry.tokens = sub.subject.split(".");
      map.set(sub.subject, entry);
    }
    if (sub.queue === undefined) {
      entry.plain.push(sub);
    } else {
      const members = entry.queues.get(sub.queue);
      if (members) members.push(sub);
      else entry.queues.set(sub.queue, [sub]);
    }
  }

  remove(sub: _Subscription): void {
    const map = this.exact.has(sub.subject) ? this.exact : this.wildcard;
    const entry = map.get(sub.subject);
    if (!entry) return;
    if (sub.queue === undefined) {
      _removeFrom(entry.plain, sub);
    } else {
      const members = entry.queues.get(sub.queue);
      if (members) {
        _removeFrom(members, sub);
        if (members.length === 0) entry.queues.delete(sub.queue);
      }
    }
    if (entry.plain.length === 0 && entry.queues.size === 0) map.delete(sub.subject);
  }

  /** The entries whose subject or pattern matches `subject`. */
  match(subject: string): { exact: _Entry | undefined; wild: _Entry[] | undefined } {
    const exact = this.exact.get(subject);
    let wild: _Entry[] | undefined;
    if (this.wildcard.size > 0) {
      const tokens = subject.split(".");
      for (const entry of this.wildcard.values()) {
        if (_matchTokens(entry.tokens!, tokens)) (wild ??= []).push(entry);
      }
    }
    return { exact, wild };
  }

  /** Queues `message` for every matching subscription; returns how many deliveries it made. */
  route(message: BusMessage): number {
    const { exact, wild } = this.match(message.subject);
    if (wild === undefined) {
      if (exact === undefined) return 0;
      for (const sub of exact.plain) this.enqueue(sub, message);
      for (const members of exact.queues.values()) this.enqueue(this.#pick(members), message);
      return exact.plain.length + exact.queues.size;
    }
    // Several entries match: plain subscribers all get a copy; queue groups are merged by name
    // across entries (as the NATS server does), then one member per group gets the message.
    const entries = exact ? [exact, ...wild] : wild;
    let count = 0;
    let groups: Map<string, _Subscription[]> | undefined;
    for (const entry of entries) {
      for (const sub of entry.plain) this.enqueue(sub, message);
      count += entry.plain.length;
      groups = _mergeQueues(groups, entry);
    }
    if (groups) {
      for (const members of groups.values()) this.enqueue(this.#pick(members), message);
      count += groups.size;
    }
    return count;
  }

  enqueue(sub: _Subscription, message: BusMessage): void {
    this.pending.push(sub, message);
    this.enqueued += 1;
    this.#schedule();
  }

  /** Resolves once every delivery queued so far has been made. */
  settled(): Promise<void> {
    const target = this.enqueued;
    if (this.delivered >= target) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }

  /** Drops everything: the last handle has closed. */
  shutdown(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.scheduled = false;
    this.delivered += this.pending.length / 2;
    this.pending = [];
    this.#wake();
  }

  /** One member of a queue group, at random. */
  #pick(members: _Subscription[]): _Subscription {
    return members.length === 1
      ? members[0]!
      : members[Math.floor(this.random() * members.length)]!;
  }

  #schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.sinceTurn < DELIVERIES_PER_TURN) {
      queueMicrotask(this.#drain);
    } else {
      // A real macrotask, not the injected clock: this yields to the event loop (timers, I/O)
      // and measures no time.
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.sinceTurn = 0;
        this.#drain();
      }, 0);
    }
  }

  #drain = (): void => {
    this.scheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    for (let i = 0; i < batch.length; i += 2) {
      const sub = batch[i] as _Subscription;
      if (!sub.active) continue;
      try {
        sub.onMessage(batch[i + 1] as BusMessage);
      } catch (error) {
        this.logger.error("Bus subscriber threw", { subject: sub.subject, error });
      }
    }
    this.delivered += batch.length / 2;
    this.sinceTurn += batch.length / 2;
    this.#wake();
  };

  #wake(): void {
    while (this.waiters.length > 0 && this.waiters[0]!.target <= this.delivered) {
      this.waiters.shift()!.resolve();
    }
  }
}

/**
 * An in-process {@linkcode Bus} (kind `"embedded"`, address `"in-process"`).
 *
 * `new MemoryBus()` starts a new plane; {@linkcode MemoryBus.connection} returns another handle on
 * it, the way a second client connects to the same NATS server.
 *
 * @example
 * ```ts
 * import { MemoryBus } from "./memory_bus.ts";
 * const a = new MemoryBus();
 * const b = a.connection();
 * b.subscribe("jobs", (m) => console.log(m.data.length), { queue: "workers" });
 * a.publish("jobs", new Uint8Array([1, 2, 3]));
 * await a.flush();
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export class MemoryBus implements Bus {
  /** Always `"embedded"`. */
  readonly kind = "embedded";
  /** Always `"in-process"`. */
  readonly address = "in-process";
  readonly #plane: _Plane;
  readonly #subscriptions = new Set<_Subscription>();
  readonly #listeners = new Set<(status: BusStatus) => void>();
  readonly #inboxPrefix = `_INBOX.${_randomHex(8)}`;
  #inboxCounter = 0;
  #closing: Promise<void> | undefined;
  #closed = false;

  /** Starts a new plane (pass nothing) and opens the first handle on it. */
  constructor(options: MemoryBusOptions = {}) {
    this.#plane = _joining ??
      new _Plane(options.logger ?? createLogger(), options.random ?? systemRandom);
    _joining = undefined;
    this.#plane.openHandles += 1;
  }

  /** Opens another handle (another "connection") on the same plane. Throws when closed. */
  connection(): MemoryBus {
    if (this.#closing) throw new BusClosedError();
    _joining = this.#plane;
    return new MemoryBus();
  }

  /** Queues `data` for every subscription that matches `subject`; never delivers synchronously. */
  publish(subject: string, data: Uint8Array, options?: PublishOptions): void {
    if (this.#closed) throw new BusClosedError();
    if (!subject || WHITESPACE.test(subject)) {
      throw new TypeError(`Cannot publish to "${subject}": not a valid subject`);
    }
    const reply = options?.reply;
    const headers = options?.headers && _hasKeys(options.headers) ? options.headers : undefined;
    const message: BusMessage = reply === undefined
      ? (headers === undefined ? { subject, data } : { subject, headers, data })
      : (headers === undefined ? { subject, reply, data } : { subject, reply, headers, data });
    const plane = this.#plane;
    if (plane.route(message) === 0 && reply !== undefined) this.#noResponders(reply);
  }

  /** Calls `onMessage`, from the plane's delivery loop, for each message matching `subject`. */
  subscribe(
    subject: string,
    onMessage: (message: BusMessage) => void,
    options?: SubscribeOptions,
  ): BusSubscription {
    if (this.#closing) throw new BusClosedError();
    checkSubscribeSubject(subject);
    const queue = options?.queue;
    if (queue !== undefined && (!queue || /[\s.*>]/.test(queue))) {
      throw new TypeError(`Cannot subscribe with queue group "${queue}": not a valid name`);
    }
    const sub = new _Subscription(
      this,
      this.#subscriptions,
      this.#plane,
      subject,
      queue,
      onMessage,
      options?.onEnd,
    );
    this.#plane.add(sub);
    this.#subscriptions.add(sub);
    return sub;
  }

  /** `_INBOX.<random>`, unique per call. */
  newInbox(): string {
    return `${this.#inboxPrefix}${(this.#inboxCounter++).toString(36)}`;
  }

  /** Resolves once every message published so far has been delivered. */
  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(new BusClosedError());
    return this.#plane.settled();
  }

  /** Registers a status listener; a memory handle only ever reports `"closed"`. */
  onStatus(listener: (status: BusStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Delivers what is already queued (drain), then removes this handle's subscriptions and
   * reports `"closed"`. New subscriptions are refused from the start; publishing is refused once
   * closed. Idempotent.
   */
  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    await this.#plane.settled();
    this.#closed = true;
    const ended: _Subscription[] = [];
    for (const sub of this.#subscriptions) {
      sub.active = false;
      this.#plane.remove(sub);
      ended.push(sub);
    }
    this.#subscriptions.clear();
    this.#plane.openHandles -= 1;
    if (this.#plane.openHandles === 0) this.#plane.shutdown();
    for (const listener of [...this.#listeners]) {
      try {
        listener("closed");
      } catch (error) {
        this.#plane.logger.error("Bus status listener threw", { error });
      }
    }
    this.#listeners.clear();
    for (const sub of ended) {
      try {
        sub.onEnd?.(new BusClosedError("The bus connection closed"));
      } catch (error) {
        this.#plane.logger.error("Subscription end listener threw", { error });
      }
    }
  }

  /** Sends the notice to one of this handle's subscriptions on `reply` (as NATS does). */
  #noResponders(reply: string): void {
    const { exact, wild } = this.#plane.match(reply);
    const entries = exact ? [exact, ...(wild ?? [])] : wild ?? [];
    for (const entry of entries) {
      const sub = _ownedBy(this, entry);
      if (sub) {
        this.#plane.enqueue(sub, { subject: reply, data: EMPTY, noResponders: true });
        return;
      }
    }
  }
}

function _ownedBy(handle: MemoryBus, entry: _Entry): _Subscription | undefined {
  for (const sub of entry.plain) if (sub.handle === handle) return sub;
  for (const members of entry.queues.values()) {
    for (const sub of members) if (sub.handle === handle) return sub;
  }
  return undefined;
}

/** Adds the queue groups of `entry` to `groups` (merging members of groups with one name). */
function _mergeQueues(
  groups: Map<string, _Subscription[]> | undefined,
  entry: _Entry,
): Map<string, _Subscription[]> | undefined {
  if (entry.queues.size === 0) return groups;
  groups ??= new Map();
  for (const [name, members] of entry.queues) {
    const seen = groups.get(name);
    groups.set(name, seen ? [...seen, ...members] : members);
  }
  return groups;
}

function _removeFrom(list: _Subscription[], sub: _Subscription): void {
  const index = list.indexOf(sub);
  if (index >= 0) list.splice(index, 1);
}

function _hasKeys(headers: MeshHeaders): boolean {
  for (const _ in headers) return true;
  return false;
}

function _hasWildcard(subject: string): boolean {
  return subject.includes("*") || subject.includes(">");
}

/** Whether a pattern (`*`, `>` allowed) matches the tokens of a subject. */
function _matchTokens(pattern: string[], tokens: string[]): boolean {
  const n = pattern.length;
  for (let i = 0; i < n; i++) {
    const p = pattern[i]!;
    if (p === ">") return tokens.length > i;
    if (i >= tokens.length) return false;
    if (p !== "*" && p !== tokens[i]) return false;
  }
  return tokens.length === n;
}

/**
 * `bytes` random bytes in hex, from the platform's CSPRNG: an inbox prefix must be unique (not
 * merely well spread), including between planes made with one seeded {@linkcode Random}.
 */
function _randomHex(bytes: number): string {
  const buf = crypto.getRandomValues(new Uint8Array(bytes));
  let out = "";
  for (const b of buf) out += b.toString(16).padStart(2, "0");
  return out;
}
