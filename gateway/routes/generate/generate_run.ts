/**
 * One run of `generate()` behind a `/generate` request: its iterator, the abort controller
 * behind `ctx.signal`, the deadline (in the route's shared time-out queue, on the injected clock)
 * and the link to the client's disconnect signal.
 *
 * @module
 */

import { MeshError } from "../../../protocol/errors.ts";
import { type Settled, settledSoon } from "../../../utils/settled_soon.ts";
import type { QueuedTimeout, TimeoutQueue } from "../../../utils/timeout_queue.ts";

/** The route's shared time-out queues that a run puts its entries in. */
export interface RunTimeouts {
  /** The request deadline. */
  deadline: TimeoutQueue;
  /** How long a step waits before the client's disconnect signal is watched. */
  clientWatch: TimeoutQueue;
}

/**
 * A run: {@linkcode GenerateRun.signal} aborts with `deadline_exceeded` when the deadline
 * passes and with `cancelled` when the client goes away; {@linkcode GenerateRun.next} rejects
 * with that reason as soon as it aborts, even while `generate()` is still busy.
 *
 * Cheap when the answer is quick: the deadline is one entry in the route's shared
 * {@linkcode TimeoutQueue} (no timer of its own), and the client's disconnect signal is watched
 * only once a step has waited `clientWatch.ms` (an entry in a second shared queue). Deno makes
 * `req.signal` on first access with an async op of its own that settles when the request
 * ends, which cost about 3–10 µs per request; an answer quicker than that wait never pays it,
 * and a client that goes away during a longer wait is noticed `clientWatch.ms` later at most.
 */
export class GenerateRun {
  /** Unix milliseconds (of the clock) after which the answer is useless. */
  readonly deadline: number;
  readonly #controller = new AbortController();
  readonly #req: Request;
  readonly #timeout: QueuedTimeout;
  readonly #clientWatches: TimeoutQueue;
  /** The pending start of the client watch, then `null` once the listener is attached. */
  #clientWatch?: QueuedTimeout | null;
  #aborted?: Promise<never>;
  #iterator?: AsyncIterator<unknown>;
  /** A step that {@linkcode GenerateRun.nextIfReady} found not ready yet. */
  #held?: Promise<IteratorResult<unknown>>;
  #closed = false;

  /**
   * A run of the request `req`, whose deadline is `timeouts.deadline.ms` from now; the client's
   * disconnect is watched from `timeouts.clientWatch.ms` into the first wait.
   */
  constructor(req: Request, timeouts: RunTimeouts, now: number, requestId: string) {
    const deadlines = timeouts.deadline;
    this.#req = req;
    this.#clientWatches = timeouts.clientWatch;
    this.deadline = now + deadlines.ms;
    this.#timeout = deadlines.add(() => {
      this.#controller.abort(
        new MeshError(
          "deadline_exceeded",
          `Request "${requestId}" did not finish within ${deadlines.ms} ms`,
        ),
      );
    });
  }

  /** The signal handed to `generate()`. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  #onClientAbort = () => {
    this.#controller.abort(new MeshError("cancelled", "Client disconnected"));
  };

  /** Starts iterating what `generate()` returned. */
  start(iterable: AsyncIterable<unknown>): void {
    this.#iterator = iterable[Symbol.asyncIterator]();
  }

  /** The next chunk, or the abort reason as soon as the signal aborts. */
  next(): Promise<IteratorResult<unknown>> {
    const signal = this.#controller.signal;
    if (signal.aborted) return Promise.reject(signal.reason);
    const held = this.#held;
    this.#held = undefined;
    if (held) return this.#race(held);
    const pending = this.#iterator!.next();
    pending.catch(() => {});
    if (this.#aborted) return this.#race(pending);
    return this.#peek(pending);
  }

  /**
   * The step, or the abort reason as soon as the run aborts. Once aborted, the reason is the
   * outcome, whatever the step failed with (a handler may reject with the abort event).
   */
  #race(pending: Promise<IteratorResult<unknown>>): Promise<IteratorResult<unknown>> {
    const signal = this.#controller.signal;
    return Promise.race([pending, this.#watch()]).catch((error) => {
      throw signal.aborted ? signal.reason : error;
    });
  }

  /**
   * The next step when it is ready within a few microtask turns (or its error), else
   * `undefined`: then the step is kept, and the next {@linkcode GenerateRun.next} awaits it.
   */
  async nextIfReady(): Promise<Settled<IteratorResult<unknown>> | undefined> {
    const signal = this.#controller.signal;
    if (signal.aborted) return { ok: false, error: signal.reason };
    const pending = this.#iterator!.next();
    pending.catch(() => {});
    const soon = await settledSoon(pending);
    if (!soon) this.#held = pending;
    return soon;
  }

  /** A step that is ready at once needs no watching; a slower one races the abort signal. */
  async #peek(pending: Promise<IteratorResult<unknown>>): Promise<IteratorResult<unknown>> {
    const soon = await settledSoon(pending);
    if (soon) {
      if (soon.ok) return soon.value;
      const signal = this.#controller.signal;
      throw signal.aborted ? signal.reason : soon.error;
    }
    return await this.#race(pending);
  }

  /** From now on, the client's disconnect aborts the run, and every step races the signal. */
  #watch(): Promise<never> {
    if (this.#aborted) return this.#aborted;
    const signal = this.#controller.signal;
    this.#aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
    this.#aborted.catch(() => {});
    if (!this.#closed) this.#clientWatch = this.#clientWatches.add(this.#watchClientNow);
    return this.#aborted;
  }

  #watchClientNow = () => {
    if (this.#closed) return;
    this.#clientWatch = null;
    this.#req.signal.addEventListener("abort", this.#onClientAbort, { once: true });
    if (this.#req.signal.aborted) this.#onClientAbort();
  };

  /**
   * From now on the client's disconnect aborts the run: for an answer that streams on after
   * the status went out.
   */
  watchClient(): void {
    this.#watch();
  }

  /** Ends the run once; with `stop`, aborts the signal and asks the iterator to `return()`. */
  close(stop: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timeout.cancel();
    if (this.#clientWatch === null) {
      this.#req.signal.removeEventListener("abort", this.#onClientAbort);
    } else this.#clientWatch?.cancel();
    if (!stop) return;
    if (!this.#controller.signal.aborted) {
      this.#controller.abort(new MeshError("cancelled", "The response stream was cancelled"));
    }
    const iterator = this.#iterator;
    if (iterator?.return) {
      Promise.resolve().then(() => iterator.return!()).catch(() => {});
    }
  }
}
