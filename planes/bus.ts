/**
 * The request plane: a subject-based message bus with NATS semantics.
 *
 * Two implementations pass one contract suite (`tests/bus_contract.ts`):
 * `NatsBus` (a real NATS connection) and `MemoryBus` (in-process, the embedded plane).
 *
 * Subjects are dot-separated tokens; subscriptions may use `*` (one token) and `>` (the rest).
 * Among subscribers that share a queue group on a subject, each message goes to one of them;
 * every plain subscriber gets its own copy.
 *
 * @module
 */

/** Message headers: string keys to string values. Header names are case-sensitive. */
export type MeshHeaders = Record<string, string>;

/** One message as a subscriber receives it. */
export interface BusMessage {
  /** The subject the message was published to. */
  readonly subject: string;
  /** Where answers go, when the publisher asked for them. */
  readonly reply?: string;
  /** Headers, when the publisher sent any. */
  readonly headers?: MeshHeaders;
  /** The payload; never re-encoded by the plane. */
  readonly data: Uint8Array;
  /**
   * True when this is the plane's notice, delivered to a reply subject, that a message published
   * with that reply subject reached no subscriber (NATS status 503).
   */
  readonly noResponders?: boolean;
}

/** Options for {@linkcode Bus.publish}. */
export interface PublishOptions {
  /** A subject for answers. With no subscriber on the target, a `noResponders` notice goes here. */
  reply?: string;
  headers?: MeshHeaders;
}

/** Options for {@linkcode Bus.subscribe}. */
export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
  /**
   * Called once when the subscription ends by itself: the plane refused or dropped it, or the
   * connection closed. Never called after `unsubscribe()`.
   */
  onEnd?: (error: Error) => void;
}

/** A live subscription. */
export interface BusSubscription {
  /** Stops delivery. Idempotent. */
  unsubscribe(): void;
}

/** Connection state changes that a bus reports (reconnects matter to callers and logs). */
export type BusStatus = "disconnected" | "reconnecting" | "reconnected" | "closed";

/** The request plane. */
export interface Bus {
  /** `"nats"` or `"embedded"`. */
  readonly kind: string;
  /** Where the plane is, for logs (a server URL, or `"in-process"`). */
  readonly address: string;
  /** Sends a message. Never blocks; a closed bus throws a `BusClosedError`. */
  publish(subject: string, data: Uint8Array, options?: PublishOptions): void;
  /**
   * Calls `onMessage` for each message on `subject` (wildcards allowed). The callback runs
   * synchronously from the plane's dispatch loop: it must not throw and should not block.
   */
  subscribe(
    subject: string,
    onMessage: (message: BusMessage) => void,
    options?: SubscribeOptions,
  ): BusSubscription;
  /** A fresh subject prefix unique to this connection, e.g. `_INBOX.<random>`. */
  newInbox(): string;
  /** Resolves once everything published so far has reached the plane. */
  flush(): Promise<void>;
  /** Registers a listener for connection state changes; returns a function that removes it. */
  onStatus(listener: (status: BusStatus) => void): () => void;
  /** Drains subscriptions and closes the connection. Idempotent. */
  close(): Promise<void>;
}

/** Thrown when publishing or subscribing on a bus that has been closed. */
export class BusClosedError extends Error {
  constructor(message = "The bus is closed", options?: ErrorOptions) {
    super(message, options);
    this.name = "BusClosedError";
  }
}

/**
 * Throws a `TypeError` unless `subject` is a valid subscription subject: dot-separated non-empty
 * tokens without spaces, `*` only as a whole token, `>` only as the last. (NATS would accept a bad
 * one and never deliver to it.)
 */
export function checkSubscribeSubject(subject: string): void {
  const tokens = typeof subject === "string" && subject.length > 0 ? subject.split(".") : [""];
  tokens.forEach((token, i) => {
    const ok = token.length > 0 && !/\s/.test(token) &&
      (token === "*" || (token === ">" && i === tokens.length - 1) || !/[*>]/.test(token));
    if (!ok) throw new TypeError(`Cannot subscribe to "${subject}": not a valid subject`);
  });
}
