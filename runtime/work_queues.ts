/**
 * The process's work-queue plane, as the runtime uses it: opened on first use (JetStream on the
 * bus's NATS connection in cluster mode, or an in-process queue of the runtime's own), the
 * durable work queue of each endpoint (`<namespace>.<component>.<endpoint>`), and how deep every
 * work queue of the namespace is.
 *
 * Each process notes in the registry, under its lease, the work queues it has opened
 * (`mesh/<ns>/work_queues/<queue>/<process>`), so that any process — the gateway's dashboard, a
 * node's telemetry agent — can report the depth of every queue in use, not only its own.
 *
 * @module
 */

import type { QueueHandle, QueueOptions, WorkQueue } from "../planes/work_queue.ts";
import { MemoryWorkQueue } from "../planes/memory/memory_work_queue.ts";
import type { EndpointAddress } from "../protocol/names.ts";
import type { Clock } from "../utils/clock.ts";
import type { Registration } from "../actors/registration.ts";
import type { Registry } from "../planes/registry.ts";
import { newInstanceId } from "../protocol/names.ts";

/** The durable work queue of an endpoint: `<namespace>.<component>.<endpoint>`. */
export function workQueueName(address: EndpointAddress): string {
  return `${address.namespace}.${address.component}.${address.endpoint}`;
}

/** Where the registry lists the work queues in use in `namespace`. */
export function workQueuesPrefix(namespace: string): string {
  return `mesh/${namespace}/work_queues/`;
}

/** Where this runtime's work queues are noted. */
export interface WorkQueueNotes {
  namespace: string;
  registry: Registry;
  registration: Registration;
}

/** The work-queue plane of one runtime and the endpoint queues it opened. */
export class WorkQueues {
  #open: () => Promise<WorkQueue>;
  #plane: Promise<WorkQueue> | undefined;
  #own: MemoryWorkQueue | undefined;
  #handles = new Map<string, Promise<QueueHandle>>();
  /** Queues opened only to read their depth. */
  #peeked = new Map<string, Promise<QueueHandle>>();
  #noted = new Set<string>();
  #notes: WorkQueueNotes | undefined;
  #process = newInstanceId();

  /**
   * `plane`: the plane, or how to open it on first use; without it, an in-process queue of this
   * runtime's own, made on first use (right for one embedded process only) and closed by `close`.
   */
  constructor(
    plane: WorkQueue | (() => Promise<WorkQueue>) | undefined,
    clock: Clock,
    notes?: WorkQueueNotes,
  ) {
    this.#open = typeof plane === "function"
      ? plane
      : () => Promise.resolve(plane ?? (this.#own = new MemoryWorkQueue({ clock })));
    this.#notes = notes;
  }

  /** Notes in the registry that this process uses the work queue `name` (once; best effort). */
  note(name: string): void {
    const notes = this.#notes;
    if (!notes || this.#noted.has(name)) return;
    this.#noted.add(name);
    const key = `${workQueuesPrefix(notes.namespace)}${name}/${this.#process}`;
    notes.registration.register(key, "{}").catch(() => this.#noted.delete(name));
  }

  /** The plane, opened on the first call (and again after a failed one). */
  plane(): Promise<WorkQueue> {
    this.#plane ??= this.#open().catch((error) => {
      this.#plane = undefined;
      throw error;
    });
    return this.#plane;
  }

  /**
   * The durable work queue of an endpoint. With `options` (a queue-served instance) the queue's
   * settings are brought in line with them; callers open it without.
   */
  endpointQueue(address: EndpointAddress, options?: QueueOptions): Promise<QueueHandle> {
    const name = workQueueName(address);
    const key = options ? `${name}|${options.maxDeliver}|${options.ackWaitMs}` : name;
    let handle = this.#handles.get(key);
    if (!handle) {
      handle = this.plane().then((plane) => plane.queue(name, options));
      handle.then(() => this.note(name), () => this.#handles.delete(key));
      this.#handles.set(key, handle);
    }
    return handle;
  }

  /**
   * Adds to `depths` the depth of every endpoint queue opened here and of every work queue the
   * registry lists as in use in the namespace (unreadable ones left out).
   */
  async addDepths(depths: Map<string, number>): Promise<Map<string, number>> {
    const handles = [...this.#handles.values()];
    for (const name of await this.#listed()) {
      if (depths.has(name) || this.#handles.has(name)) continue;
      let peeked = this.#peeked.get(name);
      if (!peeked) {
        // Opened without settings: a reader never changes those of the queue's users.
        peeked = this.plane().then((plane) => plane.queue(name));
        peeked.catch(() => this.#peeked.delete(name));
        this.#peeked.set(name, peeked);
      }
      handles.push(peeked);
    }
    for (const handle of handles) {
      try {
        const queue = await handle;
        if (!depths.has(queue.name)) depths.set(queue.name, await queue.pending());
      } catch {
        // not reachable now: left out
      }
    }
    return depths;
  }

  /** The work queues the registry lists as in use in the namespace. */
  async #listed(): Promise<string[]> {
    const notes = this.#notes;
    if (!notes) return [];
    const prefix = workQueuesPrefix(notes.namespace);
    try {
      const { kvs } = await notes.registry.getPrefix(prefix);
      return [...new Set(kvs.map((kv) => kv.key.slice(prefix.length).split("/")[0]!))];
    } catch {
      return [];
    }
  }

  /** Closes the in-process plane if this runtime made its own (a given plane is its owner's). */
  async close(): Promise<void> {
    await this.#own?.close();
  }
}
