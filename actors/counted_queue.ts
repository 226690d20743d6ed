/**
 * A shared queue as an instance's start hook sees it (`ctx.queue(name)`): items it takes count as
 * the instance's requests on an endpoint named after the queue, in flight from the take until
 * `done` (ok) or `retry` (an error), so that `/metrics`, `$SRV.STATS` and the dashboard show a
 * queue worker's rate, in-flight and latency like any endpoint's.
 *
 * @module
 */

import type { EndpointStats } from "./endpoint_stats.ts";
import type { QueueItem, SharedQueue, TakeOptions } from "./shared_queue.ts";

/** `queue`, with the items taken through it counted on `stats` (the first take calls `onTake`). */
export function countedQueue<T>(
  queue: SharedQueue<T>,
  stats: () => EndpointStats,
  onTake: () => void,
): SharedQueue<T> {
  return {
    name: queue.name,
    put: (value, options) => queue.put(value, options),
    answer: (id, options) => queue.answer(id, options),
    chunks: (id, options) => queue.chunks(id, options),
    depth: () => queue.depth(),
    end: () => queue.end(),
    async *take(options?: TakeOptions): AsyncIterable<QueueItem<T>> {
      onTake();
      const counted = stats();
      for await (const item of queue.take(options)) {
        const startedAt = counted.start();
        let settled = false;
        const settle = (error?: string) => {
          if (settled) return false;
          settled = true;
          counted.finish(startedAt, error);
          return true;
        };
        yield {
          ...item,
          send: item.send,
          reply: item.reply,
          working: item.working,
          done: () => {
            if (settle()) item.done();
          },
          retry: (delayMs) => {
            if (settle("given back to the queue")) item.retry(delayMs);
          },
        };
      }
    },
  };
}
