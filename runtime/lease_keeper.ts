/**
 * The lease keeper: one lease per process, kept alive at a third of its TTL, with every live
 * instance key attached to it. When the lease is lost (etcd restarted, wiped, or partitioned for
 * longer than the TTL) it takes a new lease and registers every key again. It never leaves an
 * instance silently unregistered and never stops the process for it.
 *
 * @module
 */

import type { LeaseId, Registry } from "../planes/registry.ts";
import { type Clock, systemClock, type TimerId } from "../utils/clock.ts";
import { type Logger, silentLogger } from "../utils/logger.ts";

/** Options for {@linkcode LeaseKeeper}. */
export interface LeaseKeeperOptions {
  /** Lease TTL in seconds. Default 10. */
  ttlSeconds?: number;
  clock?: Clock;
  logger?: Logger;
}

/** What the keeper reports to listeners. */
export type LeaseEvent =
  | { type: "granted"; lease: LeaseId }
  | { type: "lost"; lease: LeaseId }
  | { type: "unreachable"; error: unknown }
  | { type: "reregistered"; lease: LeaseId; keys: number };

/**
 * Keeps one lease alive and the keys attached to it registered.
 *
 * @example
 * ```ts ignore
 * const keeper = new LeaseKeeper(registry, { ttlSeconds: 10 });
 * await keeper.start();
 * await keeper.register("mesh/ns/instances/Worker/generate/ab12", "{...}");
 * await keeper.stop(); // revokes the lease: every key goes at once
 * ```
 */
export class LeaseKeeper {
  readonly ttlSeconds: number;
  #registry: Registry;
  #clock: Clock;
  #log: Logger;
  #lease: LeaseId | undefined;
  #keys = new Map<string, string>();
  #timer: TimerId | undefined;
  #stopped = false;
  #unreachable = false;
  /**
   * The keys may be missing under the current lease: a re-registration after a lost lease failed
   * part-way (etcd went away again between the grant and the last put). The next renewal that
   * reaches etcd puts them all again.
   */
  #reregister = false;
  #renewing: Promise<void> | undefined;
  #starting: Promise<void> | undefined;
  #listeners = new Set<(event: LeaseEvent) => void>();

  constructor(registry: Registry, options: LeaseKeeperOptions = {}) {
    this.#registry = registry;
    this.ttlSeconds = options.ttlSeconds ?? 10;
    if (!(this.ttlSeconds >= 1)) {
      throw new RangeError(`Lease TTL must be at least 1 second, got ${this.ttlSeconds}`);
    }
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? silentLogger;
  }

  /** The current lease, once started. */
  get lease(): LeaseId | undefined {
    return this.#lease;
  }

  /** The keys currently kept registered. */
  get keys(): ReadonlyMap<string, string> {
    return this.#keys;
  }

  /** Listens to lease events; returns a function that stops listening. */
  on(listener: (event: LeaseEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Grants the lease and starts renewing it. */
  start(): Promise<void> {
    if (this.#lease) return Promise.resolve();
    // Two registrations at once (before any lease) share one grant.
    this.#starting ??= this.#registry.grantLease(this.ttlSeconds).then((lease) => {
      this.#lease = lease;
      this.#emit({ type: "granted", lease });
      this.#schedule();
    }).finally(() => (this.#starting = undefined));
    return this.#starting;
  }

  /** Registers a key under the lease; it stays registered until `deregister` or `stop`. */
  async register(key: string, value: string): Promise<void> {
    if (this.#stopped) throw new Error("The lease keeper has stopped");
    if (!this.#lease) await this.start();
    this.#keys.set(key, value);
    await this.#registry.put(key, value, this.#lease);
  }

  /** Deletes a key and stops keeping it. */
  async deregister(key: string): Promise<void> {
    if (!this.#keys.delete(key)) return;
    await this.#registry.delete(key);
  }

  /** Revokes the lease (deleting every key with it) and stops renewing. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    await this.#renewing?.catch(() => {});
    const lease = this.#lease;
    this.#keys.clear();
    if (lease) {
      try {
        await this.#registry.revokeLease(lease);
      } catch (error) {
        this.#log.warn("Could not revoke the lease; its keys expire with it", { lease, error });
      }
    }
  }

  /** Renews now (the timer calls this; tests may too). */
  renew(): Promise<void> {
    this.#renewing ??= this.#renew().finally(() => (this.#renewing = undefined));
    return this.#renewing;
  }

  async #renew(): Promise<void> {
    if (this.#stopped || !this.#lease) return;
    const lease = this.#lease;
    try {
      const alive = await this.#registry.keepAlive(lease);
      if (this.#unreachable) {
        this.#unreachable = false;
        this.#log.info("Registry reachable again", { registry: this.#registry.address });
      }
      if (!alive && !this.#stopped) await this.#recover(lease);
      else if (alive && this.#reregister && !this.#stopped) await this.#putAll(lease);
    } catch (error) {
      if (!this.#unreachable) {
        this.#unreachable = true;
        this.#log.warn("Registry unreachable; instances stay registered while the lease lasts", {
          registry: this.#registry.address,
          error,
        });
      }
      this.#emit({ type: "unreachable", error });
    } finally {
      this.#schedule();
    }
  }

  async #recover(lost: LeaseId): Promise<void> {
    this.#log.warn("Lease lost; taking a new lease and registering every instance again", {
      lease: lost,
      keys: this.#keys.size,
    });
    this.#emit({ type: "lost", lease: lost });
    const lease = await this.#registry.grantLease(this.ttlSeconds);
    this.#lease = lease;
    this.#emit({ type: "granted", lease });
    await this.#putAll(lease);
  }

  /** Puts every kept key under `lease`; until all are in, the next renewal tries again. */
  async #putAll(lease: LeaseId): Promise<void> {
    this.#reregister = true;
    for (const [key, value] of this.#keys) await this.#registry.put(key, value, lease);
    this.#reregister = false;
    this.#log.info("Instances registered again", { lease, keys: this.#keys.size });
    this.#emit({ type: "reregistered", lease, keys: this.#keys.size });
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    // A third of the TTL while healthy; faster while the registry is unreachable, so that a
    // returning etcd sees the instances again well within one TTL.
    const ms = (this.ttlSeconds * 1000) / (this.#unreachable ? 10 : 3);
    this.#timer = this.#clock.setTimeout(() => void this.renew(), ms);
  }

  #emit(event: LeaseEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}
