/**
 * A live view of the instances under one registry prefix: one prefix `get`, then a watch from
 * the next revision (no gap, no double). The request path reads this view; it never calls the
 * registry. While the registry is unreachable the view keeps the last instances it knew.
 *
 * @module
 */

import type { Registry, RegistryWatch, WatchEvent } from "../actors/registry.ts";
import { type Logger, silentLogger } from "../actors/logger.ts";

/** What an instance registers (the registry value, DESIGN.md §3). */
export interface InstanceInfo {
  namespace: string;
  component: string;
  endpoint: string;
  instance: string;
  subject: string;
  hostname: string;
  pid: number;
  startedAt: string;
  version: string;
  meta: Record<string, unknown>;
}

/** A change to the view. */
export type ViewChange = { type: "added" | "updated" | "removed"; instance: string };

function parseInfo(value: string): InstanceInfo | undefined {
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
  #list: InstanceInfo[] = [];
  #listeners = new Set<(change: ViewChange) => void>();
  #watch: RegistryWatch | undefined;
  #started: Promise<void> | undefined;
  #closed = false;

  constructor(registry: Registry, prefix: string, logger: Logger = silentLogger) {
    this.#registry = registry;
    this.prefix = prefix;
    this.#log = logger;
  }

  /** The instances, ordered by instance id. The array is replaced, never mutated. */
  get instances(): readonly InstanceInfo[] {
    return this.#list;
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
    await this.#watch?.close();
  }

  async #sync(): Promise<void> {
    const snapshot = await this.#registry.getPrefix(this.prefix);
    const seen = new Set<string>();
    for (const { key, value } of snapshot.kvs) {
      seen.add(key);
      this.#apply({ type: "put", key, value, revision: snapshot.revision });
    }
    for (const key of [...this.#byKey.keys()]) {
      if (!seen.has(key)) this.#apply({ type: "delete", key, revision: snapshot.revision });
    }
    if (this.#closed) return;
    await this.#watch?.close();
    this.#watch = await this.#registry.watchPrefix(this.prefix, snapshot.revision + 1n, {
      onEvent: (event) => this.#apply(event),
      onReset: (reason) => {
        this.#log.warn("Registry watch reset; reloading instances", {
          prefix: this.prefix,
          reason,
        });
        this.#sync().catch((error) =>
          this.#log.warn("Could not reload instances", { prefix: this.prefix, error })
        );
      },
      onConnection: (connected) => {
        if (!connected) {
          this.#log.warn("Registry unreachable; routing with the last known instances", {
            prefix: this.prefix,
            instances: this.#list.length,
          });
        }
      },
    });
  }

  #apply(event: WatchEvent): void {
    const instance = event.key.slice(this.prefix.length);
    if (event.type === "delete") {
      if (!this.#byKey.delete(event.key)) return;
      this.#list = this.#sorted();
      this.#emit({ type: "removed", instance });
      return;
    }
    const info = parseInfo(event.value);
    if (!info) {
      this.#log.warn("Ignoring a malformed instance record", { key: event.key });
      return;
    }
    const existed = this.#byKey.has(event.key);
    this.#byKey.set(event.key, info);
    this.#list = this.#sorted();
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
