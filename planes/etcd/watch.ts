/**
 * One prefix watch on etcd: a long-lived `POST /v3/watch` response, one JSON message per line.
 * A lost stream reconnects from the last seen revision + 1 after a backoff; a quiet one is checked
 * every {@linkcode WATCH_PROBE_MS} with a `Status` call, so a silently dead connection (a
 * partition) is noticed; a store that lost its history or was replaced resets the watch.
 *
 * @module
 */

import type { Logger } from "../../utils/logger.ts";
import type { Clock, TimerId } from "../../utils/clock.ts";
import type { Random } from "../../utils/random.ts";
import { backoffDelay, type BackoffOptions } from "../../utils/backoff.ts";
import type { RegistryWatch, WatchEvent, WatchHandlers } from "../registry.ts";
import {
  DEADLINE_EXCEEDED,
  errorOf,
  EtcdError,
  isAbort,
  networkReason,
  reasonOf,
  TOKEN_REJECTED,
  UNAVAILABLE,
} from "./errors.ts";
import type { Transport } from "./transport.ts";
import { type Json, prefixRange, unb64 } from "./wire.ts";

/** What an {@linkcode EtcdWatch} reports to, and its time and randomness. */
export interface EtcdWatchOptions {
  /** Where disconnects, reconnects and resets are logged. */
  logger: Logger;
  /** Drives the reconnect delay and the probe of a quiet stream. */
  clock: Clock;
  /** The jitter of the reconnect delay. */
  random: Random;
}

/**
 * The pause before reconnecting a watch: 50–100 ms at first, doubling up to 0.5–1 s (the mean,
 * ± a third).
 */
const RECONNECT_BACKOFF: BackoffOptions = { initialMs: 75, maxMs: 750, factor: 2, jitter: 1 / 3 };
/** A watch that has heard nothing for this long checks that etcd still answers. */
const WATCH_PROBE_MS = 10_000;

/** One watch stream: its fetch, and a promise for the end of its read loop. */
interface _Connection {
  controller: AbortController;
  finished: Promise<void>;
}

/**
 * One prefix watch on its own `POST /v3/watch` (one HTTP connection). The read loop parses one
 * JSON message per line; any failure (connection lost, etcd's error message, end of the body)
 * reconnects from the last seen revision + 1 after a short, growing delay.
 */
export class EtcdWatch implements RegistryWatch {
  /** Resolves when etcd has created the watch the first time. */
  readonly created: Promise<void>;
  /** Resolves when the watch is closed (by the caller, or after a reset). */
  readonly closed: Promise<void>;
  readonly #transport: Transport;
  readonly #range: { key: string; range_end: string };
  readonly #prefix: string;
  readonly #handlers: WatchHandlers;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #random: Random;
  #resolveCreated!: () => void;
  #markClosed!: () => void;
  #connection: _Connection | undefined;
  #timer: TimerId | undefined;
  #probe: TimerId | undefined;
  #attempt = 0;
  /** Why the last stream failed, for the error when the watch cannot be created at all. */
  lastError: unknown;
  #closing: Promise<void> | undefined;
  #connected = false;
  #everConnected = false;
  /** The revision to (re)start from; 0 means "from now" until etcd first answers. */
  #next: bigint;
  /** The highest revision delivered: a replay never delivers anything at or below it. */
  #delivered = 0n;
  /** The highest store revision seen in a response header. */
  #seen = 0n;

  constructor(
    transport: Transport,
    prefix: string,
    fromRevision: bigint,
    handlers: WatchHandlers,
    options: EtcdWatchOptions,
  ) {
    this.#transport = transport;
    this.#prefix = prefix;
    this.#range = prefixRange(prefix);
    this.#next = fromRevision > 0n ? fromRevision : 0n;
    this.#handlers = handlers;
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#random = options.random;
    this.created = new Promise((resolve) => (this.#resolveCreated = resolve));
    this.closed = new Promise((resolve) => (this.#markClosed = resolve));
    this.#connect();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#clearTimer();
    this.#clearProbe();
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection) {
      connection.controller.abort();
      await connection.finished;
    }
    this.#markClosed();
  }

  #connect(): void {
    this.#timer = undefined;
    if (this.#closing) return;
    const controller = new AbortController();
    const connection: _Connection = { controller, finished: Promise.resolve() };
    this.#connection = connection;
    connection.finished = this.#run(connection).catch((error) => this.#lost(connection, error));
  }

  /** Opens the stream and reads it to its end; throws why it ended. */
  async #run(connection: _Connection): Promise<void> {
    const { signal } = connection.controller;
    // Opening (connect, log in, response headers) is bounded; the body then lives on. The bound
    // is an I/O deadline on real time, not the injected clock: a stopped clock must not leave a
    // fetch hanging forever.
    const openTimer = setTimeout(
      () => connection.controller.abort(new DOMException("timed out", "TimeoutError")),
      this.#transport.timeoutMs,
    );
    let response: Response;
    let token: string | undefined;
    try {
      token = await this.#transport.token(signal);
      response = await this.#transport.open(
        "/v3/watch",
        {
          create_request: {
            ...this.#range,
            start_revision: this.#next.toString(),
            progress_notify: true,
          },
        },
        signal,
        token,
      );
    } finally {
      clearTimeout(openTimer);
    }
    if (!response.body) throw new EtcdError(UNAVAILABLE, "etcd sent no watch stream");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    this.#armProbe(connection);
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        if (this.#connection !== connection) return;
        this.#armProbe(connection);
        buffer += value;
        let newline: number;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (line) this.#onMessage(connection, line, token);
          if (this.#connection !== connection) return;
        }
      }
      const rest = buffer.trim();
      if (rest && this.#connection === connection) this.#onMessage(connection, rest, token);
    } finally {
      reader.cancel().catch(() => {});
    }
    if (this.#connection === connection) {
      throw new EtcdError(UNAVAILABLE, "Connection dropped: etcd ended the watch stream");
    }
  }

  /** After {@linkcode WATCH_PROBE_MS} of silence, checks with a `Status` call that etcd answers. */
  #armProbe(connection: _Connection): void {
    this.#clearProbe();
    this.#probe = this.#clock.setTimeout(async () => {
      this.#probe = undefined;
      if (this.#connection !== connection) return;
      try {
        await this.#transport.call("/v3/maintenance/status", {});
        if (this.#connection === connection && this.#probe === undefined) {
          this.#armProbe(connection);
        }
      } catch (error) {
        this.#lost(connection, error);
      }
    }, WATCH_PROBE_MS);
  }

  #onMessage(connection: _Connection, line: string, token: string | undefined): void {
    let message: Json;
    try {
      message = JSON.parse(line);
    } catch {
      this.#lost(connection, new EtcdError(UNAVAILABLE, `Protocol error: ${line.slice(0, 200)}`));
      return;
    }
    const error = errorOf(message);
    if (error) {
      if (token !== undefined && TOKEN_REJECTED.test(error.detail)) {
        this.#transport.invalidate(token);
      }
      this.#lost(connection, error);
      return;
    }
    const response = message.result;
    if (response && typeof response === "object") this.#onResponse(response);
  }

  #onResponse(response: Json): void {
    const header = BigInt(response.header?.revision ?? "0");
    const events: Json[] = response.events ?? [];
    if (response.created && !response.canceled) {
      this.#onCreated(header);
    } else if (response.canceled) {
      this.#onCancelled(response);
    } else if (events.length === 0) {
      // A progress notification: everything up to `header` has been sent.
      if (header + 1n > this.#next) this.#next = header + 1n;
      if (header > this.#seen) this.#seen = header;
    } else {
      if (header > this.#seen) this.#seen = header;
      this.#deliver(events);
    }
  }

  #onCreated(header: bigint): void {
    if (this.#everConnected && header < this.#seen) {
      // The store is behind what we saw: etcd was replaced (e.g. restarted with wiped data).
      this.#reset(
        `etcd's revision went back from ${this.#seen} to ${header}: the store was replaced`,
      );
      return;
    }
    // Watching "from now" starts right after the revision of the create response.
    if (this.#next === 0n) this.#next = header + 1n;
    if (header > this.#seen) this.#seen = header;
    this.#attempt = 0;
    const reconnected = this.#everConnected && !this.#connected;
    this.#connected = true;
    this.#everConnected = true;
    this.#resolveCreated();
    if (reconnected) {
      this.#logger.info("etcd watch reconnected", { prefix: this.#prefix });
      this.#call(() => this.#handlers.onConnection?.(true));
    }
  }

  #deliver(events: Json[]): void {
    for (const event of events) {
      const revision = BigInt(event.kv?.mod_revision ?? "0");
      // One revision's events come in one response, so `<=` drops only replays.
      if (revision <= this.#delivered) continue;
      const key = unb64(event.kv?.key);
      const change: WatchEvent = event.type === "DELETE"
        ? { type: "delete", key, revision }
        : { type: "put", key, value: unb64(event.kv?.value), revision };
      this.#call(() => this.#handlers.onEvent(change));
    }
    for (const event of events) {
      const revision = BigInt(event.kv?.mod_revision ?? "0");
      if (revision > this.#delivered) this.#delivered = revision;
    }
    if (this.#delivered + 1n > this.#next) this.#next = this.#delivered + 1n;
  }

  /** etcd cancelled the watch: a compacted start revision, or another server-side reason. */
  #onCancelled(response: Json): void {
    this.#resolveCreated();
    const compacted = BigInt(response.compact_revision || "0");
    this.#reset(
      compacted > 0n
        ? `Revision ${this.#next} has been compacted (etcd keeps history from revision ` +
          `${compacted})`
        : `etcd cancelled the watch${response.cancel_reason ? `: ${response.cancel_reason}` : ""}`,
    );
  }

  /** The stream failed: report it once, then reconnect after a short, growing delay (backoff). */
  #lost(connection: _Connection, error: unknown): void {
    if (connection !== this.#connection) return;
    this.lastError = error instanceof EtcdError
      ? error
      : isAbort(error)
      ? new EtcdError(DEADLINE_EXCEEDED, `no answer within ${this.#transport.timeoutMs}ms`)
      : new EtcdError(UNAVAILABLE, networkReason(error), { cause: error });
    this.#connection = undefined;
    connection.controller.abort();
    this.#clearProbe();
    if (this.#closing || this.#timer !== undefined) return;
    if (this.#connected) {
      this.#connected = false;
      this.#logger.warn("etcd watch disconnected", {
        prefix: this.#prefix,
        error: reasonOf(this.lastError),
      });
      this.#call(() => this.#handlers.onConnection?.(false));
    }
    const delay = backoffDelay(++this.#attempt, RECONNECT_BACKOFF, this.#random);
    this.#timer = this.#clock.setTimeout(() => this.#connect(), delay);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #clearProbe(): void {
    if (this.#probe !== undefined) this.#clock.clearTimeout(this.#probe);
    this.#probe = undefined;
  }

  #reset(reason: string): void {
    if (this.#closing) return;
    this.#logger.warn("etcd watch reset", { prefix: this.#prefix, reason });
    this.#call(() => this.#handlers.onReset?.(reason));
    this.close();
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#logger.error("Registry watch handler threw", { prefix: this.#prefix, error });
    }
  }
}
