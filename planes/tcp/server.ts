/**
 * The holder side of the TCP data plane: accepts connections and answers each pull request on
 * them, one after another, with what the plane's `answer` callback decides.
 *
 * @module
 */

import {
  encodeResponseHead,
  HEAD_BYTES,
  parseRequestHead,
  readFull,
  Status,
  type StatusCode,
  writeFull,
} from "./wire.ts";

/** What the holder answers to one pull: a status and the payload (or a message for errors). */
export interface PullAnswer {
  status: StatusCode;
  bytes: Uint8Array;
}

/** Decides the answer to a pull of `key` presenting `secret`, from a puller accepting `maxBytes`. */
export type AnswerPull = (key: string, secret: string, maxBytes: number) => PullAnswer;

const td = new TextDecoder();
/** Payloads up to this size go out in one write with their head (one copy, one syscall). */
const _COALESCE_BYTES = 64 * 1024;
const te = new TextEncoder();

/** Serves pulls on a listener until {@linkcode DataServer.close}. */
export class DataServer {
  readonly #listener: Deno.TcpListener;
  readonly #answer: AnswerPull;
  readonly #onBadRequest: () => void;
  readonly #conns = new Set<Deno.TcpConn>();
  readonly #accepting: Promise<void>;
  #closed = false;
  /** Connections accepted so far (tests use it to see pooling). */
  accepted = 0;

  constructor(listener: Deno.TcpListener, answer: AnswerPull, onBadRequest: () => void) {
    this.#listener = listener;
    this.#answer = answer;
    this.#onBadRequest = onBadRequest;
    this.#accepting = this.#accept();
  }

  /** Stops accepting, closes every connection (cutting transfers short) and waits for the loop. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    for (const conn of this.#conns) _closeQuietly(conn);
    await this.#accepting;
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        if (this.#closed) return;
        continue; // a failed accept (e.g. too many open files) must not stop the holder
      }
      if (this.#closed) {
        _closeQuietly(conn);
        return;
      }
      this.accepted += 1;
      this.#conns.add(conn);
      conn.setNoDelay(true);
      this.#serve(conn).finally(() => {
        this.#conns.delete(conn);
        _closeQuietly(conn);
      });
    }
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    const head = new Uint8Array(HEAD_BYTES);
    try {
      while (await readFull(conn, head, true)) {
        const request = parseRequestHead(head);
        if (typeof request === "string") {
          this.#onBadRequest();
          const message = te.encode(`Bad data-plane request: ${request}`);
          await writeFull(conn, encodeResponseHead(Status.badRequest, message.length));
          await writeFull(conn, message);
          return;
        }
        const rest = new Uint8Array(request.keyBytes + request.secretBytes);
        await readFull(conn, rest);
        const key = td.decode(rest.subarray(0, request.keyBytes));
        const secret = td.decode(rest.subarray(request.keyBytes));
        const { status, bytes } = this.#answer(key, secret, request.maxBytes);
        const responseHead = encodeResponseHead(status, bytes.length);
        if (bytes.length <= _COALESCE_BYTES) {
          const frame = new Uint8Array(HEAD_BYTES + bytes.length);
          frame.set(responseHead, 0);
          frame.set(bytes, HEAD_BYTES);
          await writeFull(conn, frame);
        } else {
          await writeFull(conn, responseHead);
          await writeFull(conn, bytes);
        }
      }
    } catch {
      // The puller went away, or the holder is closing: nothing to answer to.
    }
  }
}

function _closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
