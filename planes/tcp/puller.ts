/**
 * The puller side of the TCP data plane: sends a pull request to the holder a descriptor names
 * and reads the payload into one buffer of the announced size. Connections to each holder are
 * kept in a small pool and reused for the next pull.
 *
 * @module
 */

import {
  DataNotHeldError,
  DataPlaneClosedError,
  DataPlaneError,
  DataProtocolError,
  DataRefusedError,
  type Descriptor,
  HolderUnreachableError,
} from "../data_plane.ts";
import { parseHostPort } from "./address.ts";
import {
  encodeRequest,
  HEAD_BYTES,
  MAX_MESSAGE_BYTES,
  parseResponseHead,
  readFull,
  Status,
  writeFull,
} from "./wire.ts";

/** Options for {@linkcode DataPuller}. */
export interface DataPullerOptions {
  /** Presented to holders; holders with a secret refuse pulls without it. */
  secret?: string;
  /** Bounds one pull: connect, request and transfer. */
  timeoutMs: number;
  /** The largest payload accepted. */
  maxPullBytes: number;
  /** Idle connections kept per holder. Default 4. */
  maxIdlePerHolder?: number;
}

const td = new TextDecoder();

/** Marks a pooled connection that the holder had already closed (the pull is retried once). */
class _StaleConnection extends Error {}

/** Pulls payloads from TCP holders. */
export class DataPuller {
  readonly #options: DataPullerOptions;
  readonly #idle = new Map<string, Deno.TcpConn[]>();
  readonly #busy = new Set<Deno.TcpConn>();
  #closed = false;

  constructor(options: DataPullerOptions) {
    this.#options = options;
  }

  /** Pulls the payload `descriptor` names; see `DataPlane.pull` for the errors. */
  async pull(descriptor: Descriptor, signal?: AbortSignal): Promise<Uint8Array> {
    const { holder, key } = descriptor;
    const target = parseHostPort(holder);
    if (!target) throw new HolderUnreachableError(key, holder, "not a host:port address");
    signal?.throwIfAborted();
    const { timeoutMs } = this.#options;
    const cut = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      cut.abort();
    }, timeoutMs);
    const onAbort = () => cut.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const pooled = this.#idle.get(holder)?.pop();
      if (pooled) {
        try {
          return await this.#exchange(pooled, descriptor, cut.signal);
        } catch (error) {
          if (!(error instanceof _StaleConnection)) throw error;
        }
      }
      const conn = await this.#connect(target, cut.signal);
      return await this.#exchange(conn, descriptor, cut.signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (timedOut) {
        throw new HolderUnreachableError(key, holder, `timed out after ${timeoutMs} ms`, {
          cause: error,
        });
      }
      if (error instanceof DataPlaneError) throw error;
      if (this.#closed) throw new DataPlaneClosedError(undefined, { cause: error });
      throw new HolderUnreachableError(key, holder, _reason(error), { cause: error });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Closes every pooled and busy connection. */
  close(): void {
    this.#closed = true;
    for (const conns of this.#idle.values()) for (const conn of conns) _closeQuietly(conn);
    this.#idle.clear();
    for (const conn of this.#busy) _closeQuietly(conn);
  }

  async #connect(
    target: { hostname: string; port: number },
    cut: AbortSignal,
  ): Promise<Deno.TcpConn> {
    const connecting = Deno.connect({ ...target, transport: "tcp" });
    const aborted = new Promise<never>((_, reject) => {
      if (cut.aborted) reject(new Error("aborted"));
      cut.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
    });
    try {
      const conn = await Promise.race([connecting, aborted]);
      conn.setNoDelay(true);
      return conn;
    } catch (error) {
      connecting.then(_closeQuietly, () => {});
      throw error;
    }
  }

  /** One request and its response on `conn`; the connection goes back to the pool when clean. */
  async #exchange(
    conn: Deno.TcpConn,
    descriptor: Descriptor,
    cut: AbortSignal,
  ): Promise<Uint8Array> {
    const { holder, key } = descriptor;
    const { secret, maxPullBytes } = this.#options;
    this.#busy.add(conn);
    const onCut = () => _closeQuietly(conn);
    cut.addEventListener("abort", onCut, { once: true });
    let reusable = false;
    try {
      if (cut.aborted) throw new Error("aborted");
      const head = new Uint8Array(HEAD_BYTES);
      let answered: boolean;
      try {
        await writeFull(conn, encodeRequest(key, secret, maxPullBytes));
        answered = await readFull(conn, head, true);
      } catch (error) {
        if (
          error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe
        ) {
          throw new _StaleConnection("stale", { cause: error });
        }
        throw error;
      }
      if (!answered) throw new _StaleConnection("stale");
      const response = parseResponseHead(head);
      if (!response) {
        throw new DataProtocolError(key, holder, "the holder answered no data-plane frame");
      }
      const { status, length } = response;
      if (status === Status.ok) {
        if (length > maxPullBytes) {
          throw new DataProtocolError(
            key,
            holder,
            `the holder announced ${length} bytes, over the limit of ${maxPullBytes}`,
          );
        }
        const bytes = new Uint8Array(length);
        await readFull(conn, bytes);
        reusable = true;
        return bytes;
      }
      if (length > MAX_MESSAGE_BYTES) {
        throw new DataProtocolError(key, holder, `the holder sent a ${length}-byte error message`);
      }
      const message = new Uint8Array(length);
      await readFull(conn, message);
      reusable = status !== Status.badRequest;
      if (status === Status.notHeld) throw new DataNotHeldError(key, holder);
      if (status === Status.refused) throw new DataRefusedError(key, holder);
      if (status === Status.tooLarge) throw new DataProtocolError(key, holder, td.decode(message));
      throw new DataProtocolError(key, holder, `the holder said "${td.decode(message)}"`);
    } finally {
      cut.removeEventListener("abort", onCut);
      this.#busy.delete(conn);
      if (reusable && !cut.aborted) this.#release(holder, conn);
      else _closeQuietly(conn);
    }
  }

  #release(holder: string, conn: Deno.TcpConn): void {
    const idle = this.#idle.get(holder) ?? [];
    if (this.#closed || idle.length >= (this.#options.maxIdlePerHolder ?? 4)) {
      _closeQuietly(conn);
      return;
    }
    idle.push(conn);
    this.#idle.set(holder, idle);
  }
}

function _reason(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset by the holder";
  if (error instanceof Deno.errors.UnexpectedEof) return error.message;
  if (error instanceof _StaleConnection) return "the holder closed the connection";
  return error instanceof Error ? error.message : String(error);
}

function _closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
