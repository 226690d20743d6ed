/**
 * One consumer of a JetStream work queue: pulls jobs from the queue's durable pull consumer so
 * that this process never holds more than `maxInflight` unsettled (pull requests ask only for the
 * free slots), turns each message into a {@linkcode Job}, and gives a job delivered once more
 * than `maxDeliver` to `onDeadLetter` (removing it) instead of `onJob`.
 *
 * The server's consumer is configured with `max_deliver = maxDeliver + 1`: the extra delivery is
 * the dead-letter notice, so the notice carries the whole job (headers included, e.g. the
 * caller's reply subject) and the job leaves the stream. Should the process holding that last
 * delivery die before it is removed, the job stays in the stream undelivered.
 *
 * Jobs are removed with `ack`, also for `Job.term()` and dead letters: a JetStream server before
 * 2.10 keeps a terminated (`+TERM`) message in a work-queue stream (seen with 2.9.10), where it
 * would count in `pending()` forever.
 *
 * @module
 */

import type { Consumer, ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../../utils/logger.ts";
import { backoffDelay } from "../../utils/backoff.ts";
import type { ConsumeOptions, Job, QueueConsumer } from "../work_queue.ts";

/** How long one pull request waits on the server for jobs, in milliseconds (nats.js minimum 1000). */
export const PULL_EXPIRES_MS = 5000;

/** The header that carries a job's id (JetStream's de-duplication id). */
export const JOB_ID_HEADER = "Nats-Msg-Id";

/** What a {@linkcode JetStreamQueueConsumer} needs from its queue. */
export interface JetStreamConsumerSetup {
  /** The queue's name, for logs. */
  queue: string;
  /** The durable pull consumer shared by every instance. */
  consumer: Consumer;
  /** Deliveries after which a job is given up. */
  maxDeliver: number;
  logger: Logger;
  /** Called once the consumer has stopped. */
  onStopped?: () => void;
}

/** A running pull loop; see the module documentation. */
export class JetStreamQueueConsumer implements QueueConsumer {
  readonly #setup: JetStreamConsumerSetup;
  readonly #options: ConsumeOptions;
  readonly #fetches = new Set<ConsumerMessages>();
  #inflight = 0;
  #requested = 0;
  #failures = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  /** Starts pulling at once. */
  constructor(setup: JetStreamConsumerSetup, options: ConsumeOptions) {
    this.#setup = setup;
    this.#options = options;
    this.#pump();
  }

  /** Stops pulling; closes open pull requests. Jobs handed out stay settleable. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    const open = [...this.#fetches];
    this.#fetches.clear();
    await Promise.all(open.map((fetch) => fetch.close().catch(() => {})));
    this.#setup.onStopped?.();
  }

  /**
   * Asks for as many jobs as there are free slots. A pull request costs the server a
   * subscription and a request, so while earlier ones are still open the slots that settled jobs
   * free are gathered until a quarter of them are free, rather than asked for one by one.
   */
  #pump(): void {
    if (this.#stopped || this.#retryTimer !== undefined) return;
    const { maxInflight } = this.#options;
    const free = maxInflight - this.#inflight - this.#requested;
    if (free <= 0) return;
    if (this.#requested > 0 && free < Math.ceil(maxInflight / 4)) return;
    this.#requested += free;
    this.#pull(free);
  }

  async #pull(count: number): Promise<void> {
    let received = 0;
    let fetch: ConsumerMessages | undefined;
    try {
      fetch = await this.#setup.consumer.fetch({ max_messages: count, expires: PULL_EXPIRES_MS });
      if (this.#stopped) {
        await fetch.close();
        return;
      }
      this.#fetches.add(fetch);
      for await (const msg of fetch) {
        received += 1;
        this.#requested -= 1;
        this.#take(msg);
      }
      this.#failures = 0;
    } catch (error) {
      if (!this.#stopped) this.#retryLater(error);
    } finally {
      if (fetch) this.#fetches.delete(fetch);
      this.#requested -= count - received;
      this.#pump();
    }
  }

  /** Pauses pulling after a failure (e.g. the connection is down), with exponential backoff. */
  #retryLater(error: unknown): void {
    this.#failures += 1;
    const delay = backoffDelay(this.#failures, { initialMs: 250, maxMs: 5000 });
    if (this.#failures === 1 || this.#failures % 10 === 0) {
      this.#setup.logger.warn("Cannot pull jobs from the work queue; retrying", {
        queue: this.#setup.queue,
        error,
        retryInMs: delay,
      });
    }
    if (this.#retryTimer !== undefined) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#pump();
    }, delay);
  }

  /** Hands a received message to the worker (or to the dead-letter callback). */
  #take(msg: JsMsg): void {
    if (this.#stopped) {
      msg.nak();
      return;
    }
    const { id, headers } = _contents(msg);
    const deliveryCount = msg.info.deliveryCount;
    if (deliveryCount > this.#setup.maxDeliver) {
      msg.ack(); // removes it (see the module documentation on `term`)
      this.#call(() =>
        this.#options.onDeadLetter?.({
          id,
          data: msg.data,
          headers,
          deliveries: deliveryCount - 1,
        })
      );
      return;
    }
    this.#inflight += 1;
    let settled = false;
    const settle = (action: () => void) => {
      if (settled) return;
      settled = true;
      this.#inflight -= 1;
      try {
        action();
      } catch (error) {
        this.#setup.logger.warn("Cannot settle a job", { queue: this.#setup.queue, id, error });
      }
      this.#pump();
    };
    const job: Job = {
      id,
      data: msg.data,
      headers,
      deliveryCount,
      ack: () => settle(() => msg.ack()),
      nak: (delayMs?: number) =>
        settle(() => msg.nak(delayMs && delayMs > 0 ? delayMs : undefined)),
      term: () => settle(() => msg.ack()),
      working: () => {
        if (!settled) msg.working();
      },
    };
    this.#call(() => this.#options.onJob(job));
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#setup.logger.error("A work-queue callback threw", { queue: this.#setup.queue, error });
    }
  }
}

/** The job id and the submitter's headers (without the id header) of a message. */
function _contents(msg: JsMsg): { id: string; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  let id = "";
  if (msg.headers) {
    for (const [key, values] of msg.headers) {
      const first = values[0];
      if (first === undefined) continue;
      if (key === JOB_ID_HEADER) id = first;
      else headers[key] = first;
    }
  }
  return { id, headers };
}
