/**
 * One run of `generate()` behind a `/generate` request: its iterator, the abort controller
 * behind `ctx.signal`, the deadline timer (on the injected clock) and the link to the client's
 * disconnect signal.
 *
 * @module
 */

import type { Clock, TimerId } from "../../../utils/clock.ts";
import { MeshError } from "../../../protocol/errors.ts";

/**
 * A run: {@linkcode GenerateRun.signal} aborts with `deadline_exceeded` when the deadline
 * passes and with `cancelled` when the client goes away; {@linkcode GenerateRun.next} rejects
 * with that reason as soon as it aborts, even while `generate()` is still busy.
 */
export class GenerateRun {
  /** Unix milliseconds (of the clock) after which the answer is useless. */
  readonly deadline: number;
  readonly #controller = new AbortController();
  readonly #req: Request;
  readonly #clock: Clock;
  readonly #timer: TimerId;
  readonly #aborted: Promise<never>;
  #iterator?: AsyncIterator<unknown>;
  #closed = false;

  constructor(req: Request, clock: Clock, timeoutMs: number, requestId: string) {
    this.#req = req;
    this.#clock = clock;
    this.deadline = clock.now() + timeoutMs;
    const signal = this.#controller.signal;
    this.#aborted = new Promise<never>((_, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
    this.#aborted.catch(() => {});
    this.#timer = clock.setTimeout(() => {
      this.#controller.abort(
        new MeshError(
          "deadline_exceeded",
          `Request "${requestId}" did not finish within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    req.signal.addEventListener("abort", this.#onClientAbort, { once: true });
    if (req.signal.aborted) this.#onClientAbort();
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
    if (this.#controller.signal.aborted) return Promise.reject(this.#controller.signal.reason);
    const pending = this.#iterator!.next();
    pending.catch(() => {});
    return Promise.race([pending, this.#aborted]);
  }

  /** Ends the run once; with `stop`, aborts the signal and asks the iterator to `return()`. */
  close(stop: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    this.#req.signal.removeEventListener("abort", this.#onClientAbort);
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
