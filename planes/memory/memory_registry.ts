/**
 * The embedded discovery plane: an in-process key-value store with etcd's semantics — a store
 * revision that grows with every change, leases with a TTL, and prefix watches that replay from
 * any revision still in the history.
 *
 * Several runtimes in one process may share one instance (that is how the embedded graph sees
 * every instance). Time comes from an injected {@linkcode Clock}, so tests drive lease expiry with
 * `ManualClock` instead of sleeping.
 *
 * @module
 */

import { type Clock, systemClock, type TimerId } from "../../utils/clock.ts";
import { createLogger, type Logger } from "../../utils/logger.ts";
import type {
  KeyValue,
  LeaseId,
  PrefixSnapshot,
  Registry,
  RegistryWatch,
  WatchEvent,
  WatchHandlers,
} from "../registry.ts";

/** Options for {@linkcode MemoryRegistry}. */
export interface MemoryRegistryOptions {
  /** The clock that drives lease expiry. Default: {@linkcode systemClock}. */
  clock?: Clock;
  /**
   * How many events the history keeps for watches that start from an older revision. Older
   * events are compacted; a watch from a compacted revision gets `onReset`. Default: 10 000.
   */
  historyLimit?: number;
  /** Where a watch handler's exception is reported. Default: a logger on standard error. */
  logger?: Logger;
}

interface _Entry {
  value: string;
  lease: LeaseId | undefined;
}

interface _Lease {
  ttlMs: number;
  expiresAt: number;
  timer: TimerId;
  keys: Set<string>;
}

interface _Watcher {
  prefix: string;
  /** The first revision this watch delivers. */
  from: bigint;
  handlers: WatchHandlers;
  pending: WatchEvent[];
  scheduled: boolean;
  closed: boolean;
}

/**
 * An in-process {@linkcode Registry} with etcd's semantics.
 *
 * - The store starts at revision 1; every put, and every delete that removes something, adds one.
 *   A lease revoke or expiry deletes all its keys in one revision (one delete event per key).
 * - A lease expires `ttl` seconds after its grant or last `keepAlive`, on the injected clock.
 * - Watches see every event with a revision at or above `fromRevision`, in order, delivered
 *   asynchronously (never inside the `put` that caused them).
 *
 * @example
 * ```ts
 * import { MemoryRegistry } from "./memory_registry.ts";
 * const registry = new MemoryRegistry();
 * const lease = await registry.grantLease(10);
 * await registry.put("mesh/demo/instances/Worker/generate/ab12", "{}", lease);
 * const { kvs, revision } = await registry.getPrefix("mesh/demo/instances/");
 * console.assert(kvs.length === 1 && revision === 2n);
 * await registry.close();
 * ```
 */
export class MemoryRegistry implements Registry {
  /** Always `"embedded"`. */
  readonly kind = "embedded";
  /** Always `"in-process"`. */
  readonly address = "in-process";

  readonly #clock: Clock;
  readonly #historyLimit: number;
  readonly #logger: Logger;
  readonly #data = new Map<string, _Entry>();
  readonly #leases = new Map<LeaseId, _Lease>();
  readonly #watchers = new Set<_Watcher>();
  /** Events in revision order; everything at or below `#compacted` has been dropped. */
  #history: WatchEvent[] = [];
  #revision = 1n;
  #compacted = 0n;
  #nextLease = 1;
  #closed = false;

  /** Creates an empty store at revision 1. */
  constructor(options: MemoryRegistryOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#historyLimit = Math.max(1, options.historyLimit ?? 10_000);
    this.#logger = options.logger ?? createLogger().child({ component: "memory_registry" });
  }

  /** The current store revision. */
  get revision(): bigint {
    return this.#revision;
  }

  /** The highest revision whose events were dropped from the history (0 when none were). */
  get compactedRevision(): bigint {
    return this.#compacted;
  }

  grantLease(ttlSeconds: number): Promise<LeaseId> {
    return this.#run(() => {
      if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
        throw new RangeError(`Lease TTL must be a positive number of seconds: got ${ttlSeconds}`);
      }
      const id = String(this.#nextLease++);
      const ttlMs = Math.ceil(ttlSeconds) * 1000;
      const lease: _Lease = { ttlMs, expiresAt: 0, timer: 0, keys: new Set() };
      this.#leases.set(id, lease);
      this.#arm(id, lease);
      return id;
    });
  }

  keepAlive(lease: LeaseId): Promise<boolean> {
    return this.#run(() => {
      const entry = this.#leases.get(lease);
      if (!entry) return false;
      if (this.#clock.now() >= entry.expiresAt) {
        this.#expire(lease);
        return false;
      }
      this.#clock.clearTimeout(entry.timer);
      this.#arm(lease, entry);
      return true;
    });
  }

  revokeLease(lease: LeaseId): Promise<void> {
    return this.#run(() => this.#expire(lease));
  }

  put(key: string, value: string, lease?: LeaseId): Promise<void> {
    return this.#run(() => {
      const owner = lease === undefined ? undefined : this.#leases.get(lease);
      if (lease !== undefined && !owner) {
        throw new Error(`Cannot put "${key}": lease "${lease}" not found`);
      }
      const previous = this.#data.get(key);
      if (previous?.lease !== undefined) this.#leases.get(previous.lease)?.keys.delete(key);
      this.#data.set(key, { value, lease });
      owner?.keys.add(key);
      const revision = ++this.#revision;
      this.#record([{ type: "put", key, value, revision }]);
    });
  }

  delete(key: string): Promise<void> {
    return this.#run(() => this.#deleteKeys([key]));
  }

  getPrefix(prefix: string): Promise<PrefixSnapshot> {
    return this.#run(() => {
      const kvs: KeyValue[] = [];
      for (const [key, entry] of this.#data) {
        if (key.startsWith(prefix)) kvs.push({ key, value: entry.value });
      }
      kvs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      return { kvs, revision: this.#revision };
    });
  }

  watchPrefix(
    prefix: string,
    fromRevision: bigint,
    handlers: WatchHandlers,
  ): Promise<RegistryWatch> {
    return this.#run(() => {
      // Like etcd, a start revision of 0 (or less) means "from the next change".
      const from = fromRevision > 0n ? fromRevision : this.#revision + 1n;
      const watcher: _Watcher = {
        prefix,
        from,
        handlers,
        pending: [],
        scheduled: false,
        closed: false,
      };
      const close = () => {
        watcher.closed = true;
        watcher.pending = [];
        this.#watchers.delete(watcher);
        return Promise.resolve();
      };
      if (from <= this.#compacted) {
        const reason = `Revision ${from} has been compacted (the history starts after revision ` +
          `${this.#compacted})`;
        queueMicrotask(() => {
          if (!watcher.closed) this.#call(() => handlers.onReset?.(reason));
          watcher.closed = true;
        });
        return { close };
      }
      watcher.pending = this.#history.slice(_firstAtOrAfter(this.#history, from))
        .filter((event) => event.key.startsWith(prefix));
      this.#watchers.add(watcher);
      if (watcher.pending.length > 0) this.#schedule(watcher);
      return { close };
    });
  }

  /** Ends every watch and lease timer and empties the store. Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const lease of this.#leases.values()) this.#clock.clearTimeout(lease.timer);
    this.#leases.clear();
    for (const watcher of this.#watchers) {
      watcher.closed = true;
      watcher.pending = [];
    }
    this.#watchers.clear();
    this.#data.clear();
    this.#history = [];
    return Promise.resolve();
  }

  /** Same as {@linkcode MemoryRegistry.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Runs a synchronous operation as a promise, rejecting (never throwing) on error. */
  #run<T>(operation: () => T): Promise<T> {
    try {
      if (this.#closed) throw new Error("Cannot use the in-process registry: it is closed");
      return Promise.resolve(operation());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #arm(id: LeaseId, lease: _Lease): void {
    lease.expiresAt = this.#clock.now() + lease.ttlMs;
    lease.timer = this.#clock.setTimeout(() => this.#expire(id), lease.ttlMs);
  }

  /** Removes a lease (expiry or revoke) and deletes its keys in one revision. */
  #expire(id: LeaseId): void {
    const lease = this.#leases.get(id);
    if (!lease) return;
    this.#leases.delete(id);
    this.#clock.clearTimeout(lease.timer);
    this.#deleteKeys([...lease.keys].sort());
  }

  #deleteKeys(keys: string[]): void {
    const present = keys.filter((key) => this.#data.has(key));
    if (present.length === 0) return;
    const revision = ++this.#revision;
    for (const key of present) {
      const entry = this.#data.get(key)!;
      if (entry.lease !== undefined) this.#leases.get(entry.lease)?.keys.delete(key);
      this.#data.delete(key);
    }
    this.#record(present.map((key) => ({ type: "delete", key, revision })));
  }

  /** Appends events of one revision to the history and queues them for matching watches. */
  #record(events: WatchEvent[]): void {
    this.#history.push(...events);
    this.#compact();
    for (const watcher of this.#watchers) {
      const matching = events.filter((event) =>
        event.revision >= watcher.from && event.key.startsWith(watcher.prefix)
      );
      if (matching.length === 0) continue;
      watcher.pending.push(...matching);
      this.#schedule(watcher);
    }
  }

  /** Drops the oldest revisions (whole revisions only) while the history is over its limit. */
  #compact(): void {
    const excess = this.#history.length - this.#historyLimit;
    if (excess <= 0) return;
    let cut = excess;
    const last = this.#history[cut - 1]!.revision;
    while (cut < this.#history.length && this.#history[cut]!.revision === last) cut++;
    this.#history = this.#history.slice(cut);
    this.#compacted = last;
  }

  #schedule(watcher: _Watcher): void {
    if (watcher.scheduled) return;
    watcher.scheduled = true;
    queueMicrotask(() => {
      watcher.scheduled = false;
      while (!watcher.closed && watcher.pending.length > 0) {
        const event = watcher.pending.shift()!;
        this.#call(() => watcher.handlers.onEvent(event));
      }
    });
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#logger.error("Registry watch handler threw", { error });
    }
  }
}

/** The index of the first event with `revision >= from` (binary search; events are sorted). */
function _firstAtOrAfter(events: WatchEvent[], from: bigint): number {
  let [low, high] = [0, events.length];
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (events[mid]!.revision < from) low = mid + 1;
    else high = mid;
  }
  return low;
}
