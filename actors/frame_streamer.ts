/**
 * Turns a handler's chunks into reply frames (`docs/protocol.md`): what is ready together goes in
 * one frame, and the last chunk goes with the end (`final`, `batch_end`) when it is ready by then.
 *
 * After each chunk it looks a few microtask turns ahead: what is ready by then (up to 256 chunks
 * or about 64 KiB) joins the frame; a chunk that takes longer is never waited for. Written with
 * promise callbacks rather than `async` functions: a one-chunk answer then costs two `then`s and
 * a few queued microtasks, not a stack of async frames resumed at every turn.
 *
 * @module
 */

import { encodeText, type FrameKind } from "../protocol/wire.ts";

/** Sends one frame (`data` is the encoded body). Throwing fails the stream. */
export type FrameSender = (kind: FrameKind, data?: Uint8Array) => void;

const _BATCH_CHUNKS = 256;
const _BATCH_BYTES = 64 * 1024;
/** How many microtask turns a look ahead lasts. */
const _LOOK_TURNS = 16;
const _EMPTY = new Uint8Array(0);

/**
 * Streams `chunks` as frames through `send`; resolves after the last frame, rejects with the
 * handler's error (or `send`'s). An `ack` goes first when the first chunk is not ready at once.
 */
export function streamFrames(chunks: AsyncIterator<unknown>, send: FrameSender): Promise<void> {
  return new Promise((resolve, reject) => new _Streamer(chunks, send, resolve, reject).start());
}

class _Streamer {
  #chunks: AsyncIterator<unknown>;
  #send: FrameSender;
  #resolve: () => void;
  #reject: (error: unknown) => void;
  /** The step being waited for. */
  #next: Promise<IteratorResult<unknown>> | undefined;
  /** The frame being gathered: its first chunk's JSON, then the others'. */
  #first: unknown;
  #firstText: string | undefined;
  #texts: string[] = [];
  #size = 0;

  constructor(
    chunks: AsyncIterator<unknown>,
    send: FrameSender,
    resolve: () => void,
    reject: (error: unknown) => void,
  ) {
    this.#chunks = chunks;
    this.#send = send;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  start(): void {
    this.#look(this.#pull(), this.#onStep, () => {
      this.#safely(() => this.#send("ack"));
      this.#wait();
    });
  }

  /** A step to gather from: ends the stream, or starts a frame with its chunk. */
  #onStep = (step: IteratorResult<unknown>): void => {
    if (step.done) {
      if (this.#safely(() => this.#send("end"))) this.#resolve();
      return;
    }
    this.#first = step.value;
    this.#firstText = undefined;
    this.#texts = [];
    this.#size = 0;
    this.#look(this.#pull(), this.#onAfter, () => this.#flush(undefined));
  };

  /** A step ready while gathering: joins the frame, or ends it. */
  #onAfter = (after: IteratorResult<unknown>): void => {
    if (!after.done && this.#texts.length < _BATCH_CHUNKS - 1 && this.#size < _BATCH_BYTES) {
      let text: string | undefined;
      try {
        this.#firstText ??= JSON.stringify(this.#first);
        // A chunk JSON cannot write in an array (`undefined`) goes alone.
        text = this.#firstText === undefined ? undefined : JSON.stringify(after.value);
      } catch (error) {
        this.#reject(error);
        return;
      }
      if (text !== undefined) {
        this.#texts.push(text);
        this.#size += text.length;
        this.#look(this.#pull(), this.#onAfter, () => this.#flush(undefined));
        return;
      }
    }
    this.#flush(after);
  };

  /** Sends the gathered frame; `after` is the step after it, if ready. */
  #flush(after: IteratorResult<unknown> | undefined): void {
    const ended = after?.done === true;
    const sent = this.#safely(() => {
      if (this.#texts.length === 0) {
        const text = this.#firstText !== undefined ? this.#firstText : JSON.stringify(this.#first);
        this.#send(ended ? "final" : "data", text === undefined ? _EMPTY : encodeText(text));
      } else {
        const batch = `[${this.#firstText},${this.#texts.join(",")}]`;
        this.#send(ended ? "batch_end" : "batch", encodeText(batch));
      }
    });
    if (!sent) return;
    if (ended) this.#resolve();
    else if (after) this.#onStep(after);
    else this.#wait();
  }

  #pull(): Promise<IteratorResult<unknown>> {
    let next: Promise<IteratorResult<unknown>>;
    try {
      next = this.#chunks.next();
    } catch (error) {
      next = Promise.reject(error);
    }
    this.#next = next;
    return next;
  }

  /** Waits as long as it takes for the pending step. */
  #wait(): void {
    this.#next!.then(this.#onStep, this.#reject);
  }

  /**
   * Calls `ready` with the step if it settles within a few microtask turns, else `late`; a step
   * that fails within them fails the stream.
   */
  #look(
    step: Promise<IteratorResult<unknown>>,
    ready: (step: IteratorResult<unknown>) => void,
    late: () => void,
  ): void {
    let open = true;
    step.then(
      (value) => {
        if (!open) return;
        open = false;
        ready(value);
      },
      (error) => {
        if (!open) return;
        open = false;
        this.#reject(error);
      },
    );
    let turns = _LOOK_TURNS;
    const look = () => {
      if (!open) return;
      if (--turns > 0) {
        queueMicrotask(look);
        return;
      }
      open = false;
      late();
    };
    queueMicrotask(look);
  }

  /** Runs `fn`; a throw fails the stream (false). */
  #safely(fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (error) {
      this.#reject(error);
      return false;
    }
  }
}
