/**
 * The process's work-queue plane, as the runtime uses it: opened on first use (JetStream on the
 * bus's NATS connection in cluster mode, or an in-process queue of the runtime's own), the
 * durable work queue of each endpoint (`<namespace>.<component>.<endpoint>`), and how deep each
 * queue the process opened is.
 *
 * @module
 */

import type { QueueHandle, QueueOptions, WorkQueue } from "../planes/work_queue.ts";
import { MemoryWorkQueue } from "../planes/memory/memory_work_queue.ts";
import type { EndpointAddress } from "../protocol/names.ts";
import type { Clock } from "../utils/clock.ts";

/** The durable work queue of an endpoint: `<namespace>.<component>.<endpoint>`. */
export function workQueueName(address: EndpointAddress): string {
  return `${address.namespace}.${address.component}.${address.endpoint}`;
}

/** The work-queue plane of one runtime and the endpoint queues it opened. */
export class WorkQueues {
  #open: () => Promise<WorkQueue>;
  #plane: Promise<WorkQueue> | undefined;
  #own: MemoryWorkQueue | undefined;
  #handles = new Map<string, Promise<QueueHandle>>();

  /**
   * `plane`: the plane, or how to open it on first use; without it, an in-process queue of this
   * runtime's own, made on first use (right for one embedded process only) and closed by `close`.
   */
  constructor(plane: WorkQueue | (() => Promise<WorkQueue>) | undefined, clock: Clock) {
    this.#open = typeof plane === "function"
      ? plane
      : () => Promise.resolve(plane ?? (this.#own = new MemoryWorkQueue({ clock })));
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
      handle.catch(() => this.#handles.delete(key));
      this.#handles.set(key, handle);
    }
    return handle;
  }

  /** Adds the depth of every endpoint queue opened here to `depths` (unreadable ones left out). */
  async addDepths(depths: Map<string, number>): Promise<Map<string, number>> {
    for (const handle of this.#handles.values()) {
      try {
        const queue = await handle;
        if (!depths.has(queue.name)) depths.set(queue.name, await queue.pending());
      } catch {
        // not reachable now: left out
      }
    }
    return depths;
  }

  /** Closes the in-process plane if this runtime made its own (a given plane is its owner's). */
  async close(): Promise<void> {
    await this.#own?.close();
  }
}
