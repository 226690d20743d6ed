/**
 * The cluster request plane: a {@linkcode Bus} over a real NATS connection
 * (`npm:@nats-io/transport-node`, nats.js v3).
 *
 * Subscriptions use callbacks (no async iterators) and messages are handed over without copying
 * the payload (`messages.ts`). Headers travel as NATS headers (names keep their case; NATS trims
 * values). The server's "no responders" status (503 on the reply subject, sent to the publisher's
 * own connection when a message with a reply reaches no subscriber) arrives as a `noResponders`
 * message. nats.js v3 asks for it on its own: it sets `headers` and `no_responders` in CONNECT
 * whenever the server supports headers (every server since 2.2).
 *
 * Connections are made by `connectNatsBus` (`connect.ts`), with credentials (`credentials.ts`)
 * and nats.js's Node transport with one guard added (`guarded_transport.ts`).
 *
 * @example
 * ```ts ignore
 * import { connectNatsBus } from "./connect.ts";
 * const bus = await connectNatsBus({ servers: "127.0.0.1:4222", name: "worker" });
 * bus.subscribe("mesh.demo.>", (m) => console.log(m.subject));
 * bus.publish("mesh.demo.hello", new Uint8Array());
 * await bus.close();
 * ```
 *
 * @module
 */

import { createInbox, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import {
  type Bus,
  BusClosedError,
  type BusMessage,
  type BusStatus,
  type BusSubscription,
  checkSubscribeSubject,
  type PublishOptions,
  type SubscribeOptions,
} from "../bus.ts";
import { createLogger, type Logger } from "../../utils/logger.ts";
import { toBusMessage, toNatsHeaders } from "./messages.ts";

/** Options for the {@linkcode NatsBus} constructor (when wrapping an existing connection). */
export interface NatsBusWrapOptions {
  /** The server address for logs. Default: the connection's current server. */
  address?: string;
  /** The inbox prefix the connection was opened with. Default: `"_INBOX"`. */
  inboxPrefix?: string;
  /** Default: a logger writing to standard error. */
  logger?: Logger;
}

/** How long `close()` lets subscriptions drain before it closes anyway. */
const DRAIN_TIMEOUT_MS = 5000;

/**
 * A {@linkcode Bus} on one NATS connection (kind `"nats"`). Usually made by
 * {@linkcode connectNatsBus}; the constructor wraps a connection that is already open.
 */
export class NatsBus implements Bus {
  /** Always `"nats"`. */
  readonly kind = "nats";
  /** The server(s), e.g. `nats://127.0.0.1:4222` (credentials removed). */
  readonly address: string;
  /** The underlying nats.js connection (for JetStream or KV clients). */
  readonly connection: NatsConnection;
  readonly #logger: Logger;
  readonly #inboxPrefix: string;
  readonly #listeners = new Set<(status: BusStatus) => void>();
  readonly #statusLoop: Promise<void>;
  #lastStatus: BusStatus | undefined;
  #connected = true;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** Wraps an open nats.js connection and starts following its status events. */
  constructor(connection: NatsConnection, options: NatsBusWrapOptions = {}) {
    this.connection = connection;
    this.address = options.address ?? `nats://${connection.getServer()}`;
    this.#inboxPrefix = options.inboxPrefix ?? "_INBOX";
    this.#logger = options.logger ?? createLogger();
    this.#statusLoop = this.#followStatus();
    connection.closed().then((error) => {
      if (error) {
        this.#logger.warn("NATS connection closed", { server: this.address, error });
      }
      this.#markClosed();
    });
  }

  /**
   * Publishes `data` on `subject`. Throws `BusClosedError` once the connection is closed or its
   * drain has stopped publishing.
   */
  publish(subject: string, data: Uint8Array, options?: PublishOptions): void {
    if (this.#closed) throw new BusClosedError();
    try {
      if (options === undefined) {
        this.connection.publish(subject, data);
      } else {
        const headers = options.headers ? toNatsHeaders(options.headers) : undefined;
        this.connection.publish(subject, data, { reply: options.reply, headers });
      }
    } catch (error) {
      throw _mapError(error, `Cannot publish to "${subject}"`);
    }
  }

  /**
   * Subscribes with a callback. A no-responders status on the subject arrives as a message with
   * `noResponders: true` and an empty payload.
   */
  subscribe(
    subject: string,
    onMessage: (message: BusMessage) => void,
    options?: SubscribeOptions,
  ): BusSubscription {
    if (this.#closed || this.#closing) throw new BusClosedError();
    checkSubscribeSubject(subject);
    let active = true;
    const logger = this.#logger;
    let sub: Subscription;
    try {
      sub = this.connection.subscribe(subject, {
        queue: options?.queue,
        callback: (error, msg) => {
          if (!active) return;
          if (error) {
            logger.warn("NATS subscription failed", { subject, error });
            active = false;
            options?.onEnd?.(error instanceof Error ? error : new Error(String(error)));
            return;
          }
          try {
            onMessage(toBusMessage(msg));
          } catch (thrown) {
            logger.error("Bus subscriber threw", { subject, error: thrown });
          }
        },
      });
    } catch (error) {
      throw _mapError(error, `Cannot subscribe to "${subject}"`);
    }
    sub.closed.then(
      () => {
        if (!active) return;
        active = false;
        options?.onEnd?.(new BusClosedError(`The subscription to "${subject}" closed`));
      },
      (error) => {
        if (!active) return;
        active = false;
        options?.onEnd?.(error instanceof Error ? error : new Error(String(error)));
      },
    );
    return {
      unsubscribe: () => {
        if (!active) return;
        active = false;
        try {
          sub.unsubscribe();
        } catch {
          // the connection is already closed: nothing left to stop
        }
      },
    };
  }

  /** `<inboxPrefix>.<nuid>`, unique per call. */
  newInbox(): string {
    return createInbox(this.#inboxPrefix);
  }

  /** Resolves once the server has seen everything published so far (a PING/PONG round trip). */
  async flush(): Promise<void> {
    if (this.#closed) throw new BusClosedError();
    try {
      await this.connection.flush();
    } catch (error) {
      throw _mapError(error, "Cannot flush");
    }
  }

  /**
   * Registers a listener for `"disconnected"`, `"reconnecting"` (once per outage, not per
   * attempt), `"reconnected"` and `"closed"`.
   */
  onStatus(listener: (status: BusStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Drains subscriptions (bounded at 5 s; skipped while disconnected) and closes the
   * connection. Idempotent; resolves after `"closed"` has been reported.
   */
  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    const nc = this.connection;
    if (!nc.isClosed() && !nc.isDraining() && this.#connected) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS)));
      try {
        await Promise.race([nc.drain(), late]);
      } catch (error) {
        this.#logger.debug("NATS drain failed; closing", { error });
      } finally {
        clearTimeout(timer);
      }
    }
    await nc.close();
    await nc.closed();
    await this.#statusLoop;
    this.#markClosed();
  }

  async #followStatus(): Promise<void> {
    for await (const status of this.connection.status()) {
      switch (status.type) {
        case "disconnect":
          this.#connected = false;
          this.#logger.warn("Disconnected from NATS", { server: status.server });
          this.#emit("disconnected");
          break;
        case "reconnecting":
          this.#emit("reconnecting");
          break;
        case "reconnect":
          this.#connected = true;
          this.#logger.info("Reconnected to NATS", { server: status.server });
          this.#emit("reconnected");
          break;
        case "error":
          this.#logger.warn("NATS reported an error", { error: status.error });
          break;
      }
    }
  }

  #markClosed(): void {
    if (this.#lastStatus === "closed") return;
    this.#closed = true;
    this.#emit("closed");
    this.#listeners.clear();
  }

  #emit(status: BusStatus): void {
    if (status === this.#lastStatus) return;
    this.#lastStatus = status;
    for (const listener of [...this.#listeners]) {
      try {
        listener(status);
      } catch (error) {
        this.#logger.error("Bus status listener threw", { status, error });
      }
    }
  }
}

/** Turns nats.js errors into the ones the `Bus` interface promises. */
function _mapError(error: unknown, what: string): unknown {
  if (!(error instanceof Error)) return error;
  switch (error.name) {
    case "ClosedConnectionError":
    case "DrainingConnectionError":
      return new BusClosedError(`${what}: the bus is closed`, { cause: error });
    case "InvalidSubjectError":
    case "InvalidArgumentError":
      return new TypeError(`${what}: ${error.message}`, { cause: error });
    default:
      return error;
  }
}
