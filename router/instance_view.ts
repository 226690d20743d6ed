/**
 * A live view of the instances under one registry prefix: one prefix `get`, then a watch from
 * the next revision (no gap, no double). The request path reads this view; it never calls the
 * registry. While the registry is unreachable the view keeps the last instances it knew; when it
 * is back, the view loads a fresh snapshot (the store may have been replaced, e.g. restored or
 * wiped, in a way its revisions do not show) and watches from there.
 *
 * @module
 */

import type { Registry, RegistryWatch, WatchEvent } from "../planes/registry.ts";
import type { InstanceInfo } from "../protocol/instance_info.ts";
import { backoffDelay } from "../utils/backoff.ts";
import { type Clock, systemClock, type TimerId } from "../utils/clock.ts";
import { type Logger, silentLogger } from "../utils/logger.ts";
import { type Random, systemRandom } from "../utils/random.ts";

export type { InstanceInfo } from "../protocol/instance_info.ts";

/** Options for {@linkcode InstanceView}. */
export interface InstanceViewOptions {
  logger?: Logger;
  /** Times the retries of a failed reload. Default: the system clock. */
  clock?: Clock;
  /** Spreads the retry delays. Default: the system source. */
  random?: Random;
}

/** The pause before the n-th retry of a reload: 250 ms doubling to 5 s, ±20 %. */
const _RELOAD_BACKOFF = { initialMs: 250, maxMs: 5000 };

/**
 * A change to the view. A removal carries the record the instance had (`previous`), and whether
 * a reload found it gone (`resync`: the store lost it, e.g. wiped, rather than a delete or a lease
 * expiry being seen — the instance itself may be alive and about to register again).
 */
export type ViewChange =
  | { type: "added" | "updated"; instance: string }
  | { type: "removed"; instance: string; previous: InstanceInfo; resync: boolean };

function _parseInfo(value: string): InstanceInfo | undefined {
  try {
    const info = JSON.parse(value) as InstanceInfo;
    return typeof info?.instance === "string" && typeof info.subject === "string"
      ? info
      : undefined;
  } catch {
    return undefined;
  }
}

/** The instances under one prefix, kept current by a registry watch. */
export class InstanceView {
  readonly prefix: string;
  #registry: Registry;
  #log: Logger;
  #byKey = new Map<string, InstanceInfo>();
  /** The instances in id order, sorted on the first read after a change (undefined till then). */
  #list: InstanceInfo[] | undefined = [];
  #listeners = new Set<(change: ViewChange) => void>();
  #watch: RegistryWatch | undefined;
  #started: Promise<void> | undefined;
  #reloading: Promise<void> | undefined;
  #retry: TimerId | undefined;
  #clock: Clock;
  #random: Random;
  #closed = false;

  constructor(registry: Registry, prefix: string, options: InstanceViewOptions = {}) {
    this.#registry = registry;
    this.prefix = prefix;
    this.#log = options.logger ?? silentLogger;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
  }

  /**
   * The instances, ordered by instance id. The array is replaced after a change, never mutated;
   * it is sorted when first read, so that registering n instances costs no n sorts.
   */
  get instances(): readonly InstanceInfo[] {
    return (this.#list ??= this.#sorted());
  }

  /** Finds an instance by id. */
  get(instance: string): InstanceInfo | undefined {
    return this.#byKey.get(this.prefix + instance);
  }

  /** Listens to changes; returns a function that stops listening. */
  onChange(listener: (change: ViewChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Loads the snapshot and starts the watch. Idempotent; after a failure, tries again. */
  start(): Promise<void> {
    this.#started ??= this.#sync().catch((error) => {
      this.#started = undefined;
      throw error;
    });
    return this.#started;
  }

  /** Waits for the next change (or `signal`), whichever is first. */
  changed(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        off();
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const off = this.onChange(done);
      signal?.addEventListener("abort", done, { once: true });
      if (signal?.aborted) done();
    });
  }

  /** Stops the watch. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#clearRetry();
    await this.#reloading;
    await this.#watch?.close();
  }

  /**
   * Drops the watch and loads again from a fresh snapshot (after a reset, or once the registry is
   * reachable again). One at a time; retried with a growing delay (`backoffDelay`) until it
   * works or the view closes.
   */
  #reload(attempt = 1): void {
    if (this.#closed || this.#reloading) return;
    this.#clearRetry();
    this.#reloading = (async () => {
      const old = this.#watch;
      this.#watch = undefined;
      await old?.close(); // nothing older than the snapshot may arrive after it
      await this.#sync();
    })().then(
      () => (this.#reloading = undefined),
      (error) => {
        this.#reloading = undefined;
        if (this.#closed) return;
        const delayMs = backoffDelay(attempt, _RELOAD_BACKOFF, this.#random);
        this.#log.warn("Could not reload instances; trying again", {
          prefix: this.prefix,
          error,
          delayMs,
        });
        this.#retry = this.#clock.setTimeout(() => {
          this.#retry = undefined;
          this.#reload(attempt + 1);
        }, delayMs);
      },
    );
  }

  #clearRetry(): void {
    if (this.#retry !== undefined) this.#clock.clearTimeout(this.#retry);
    this.#retry = undefined;
  }

  async #sync(): Promise<void> {
    const snapshot = await this.#registry.getPrefix(this.prefix);
    const seen = new Set<string>();
    for (const { key, value } of snapshot.kvs) {
      seen.add(key);
      this.#apply({ type: "put", key, value, revision: snapshot.revision });
    }
    for (const key of [...this.#byKey.keys()]) {
      if (!seen.has(key)) this.#apply({ type: "delete", key, revision: snapshot.revision }, true);
    }
    if (this.#closed) return;
    await this.#watch?.close();
    const watch = await this.#registry.watchPrefix(this.prefix, snapshot.revision + 1n, {
      onEvent: (event) => this.#apply(event),
      onReset: (reason) => {
        this.#log.warn("Registry watch reset; reloading instances", {
          prefix: this.prefix,
          reason,
        });
        this.#reload();
      },
      onConnection: (connected) => {
        if (!connected) {
          this.#log.warn("Registry unreachable; routing with the last known instances", {
            prefix: this.prefix,
            instances: this.#byKey.size,
          });
        } else {
          this.#log.info("Registry reachable again; reloading instances", { prefix: this.prefix });
          this.#reload();
        }
      },
    });
    if (this.#closed) await watch.close();
    else this.#watch = watch;
  }

  #apply(event: WatchEvent, resync = false): void {
    const instance = event.key.slice(this.prefix.length);
    if (event.type === "delete") {
      const previous = this.#byKey.get(event.key);
      if (!previous || !this.#byKey.delete(event.key)) return;
      this.#list = undefined;
      this.#emit({ type: "removed", instance, previous, resync });
      return;
    }
    const info = _parseInfo(event.value);
    if (!info) {
      this.#log.warn("Ignoring a malformed instance record", { key: event.key });
      return;
    }
    const existed = this.#byKey.has(event.key);
    this.#byKey.set(event.key, info);
    this.#list = undefined;
    this.#emit({ type: existed ? "updated" : "added", instance });
  }

  /** Instance-id order: every caller sees the same order, whatever order it learnt them in. */
  #sorted(): InstanceInfo[] {
    return [...this.#byKey.values()].sort((a, b) =>
      a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0
    );
  }

  #emit(change: ViewChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}
