/**
 * The cluster request plane: a {@linkcode Bus} over a real NATS connection
 * (`npm:@nats-io/transport-node`, nats.js v3).
 *
 * Subscriptions use callbacks (no async iterators) and messages are handed over without copying
 * the payload. Headers travel as NATS headers (names keep their case; NATS trims values). The
 * server's "no responders" status (503 on the reply subject, sent to the publisher's own
 * connection when a message with a reply reaches no subscriber) arrives as a `noResponders`
 * message. nats.js v3 asks for it on its own: it sets `headers` and `no_responders` in CONNECT
 * whenever the server supports headers (every server since 2.2).
 *
 * Connections use nats.js's Node transport with one guard added (see `_GuardedTransport`): under
 * Deno a socket error can fire after nats.js has detached its listeners, which would otherwise
 * crash the process with an uncaught `ECONNRESET` (seen when the server refuses credentials).
 *
 * Credentials: a user and password, a token, or an NKey seed file (never more than one kind), and
 * TLS with a CA file and, for mutual TLS, a client certificate and key. The files are read (and
 * checked) before connecting, so a missing or unreadable one is an error naming it. Passwords,
 * tokens and seeds never appear in a message or a log line.
 *
 * @example
 * ```ts
 * import { connectNatsBus } from "./nats_bus.ts";
 * const bus = await connectNatsBus({ servers: "127.0.0.1:4222", name: "worker" });
 * bus.subscribe("mesh.demo.>", (m) => console.log(m.subject));
 * bus.publish("mesh.demo.hello", new Uint8Array());
 * await bus.close();
 * ```
 *
 * @module
 */

import {
  type Authenticator,
  createInbox,
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  NatsConnectionImpl,
  nkeyAuthenticator,
  nkeys,
  setTransportFactory,
  type Subscription,
  type TlsOptions,
} from "@nats-io/transport-node";
import { nodeResolveHost, NodeTransport } from "@nats-io/transport-node/lib/node_transport.js";
import type { Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import {
  type Bus,
  BusClosedError,
  type BusMessage,
  type BusStatus,
  type BusSubscription,
  checkSubscribeSubject,
  type MeshHeaders,
  type PublishOptions,
  type SubscribeOptions,
} from "../bus.ts";
import { createLogger, type Logger } from "../../utils/logger.ts";

/** Options for {@linkcode connectNatsBus}. */
export interface NatsBusOptions {
  /**
   * One or more servers: `nats://host:port` or bare `host:port` (a string may list several,
   * comma-separated). A missing port means 4222.
   */
  servers: string | string[];
  /** The connection name the server shows (e.g. in `/connz`). */
  name?: string;
  /** User for user/password authentication. */
  user?: string;
  /** Password for user/password authentication. */
  pass?: string;
  /** Token for token authentication. */
  token?: string;
  /**
   * A file holding a user NKey seed (`SU...`, as `nk -gen user` or `nsc` write it) for NKey
   * authentication: the seed signs the server's nonce; only the public key is sent.
   */
  nkeySeedFile?: string;
  /**
   * TLS. When present (even `{}`), the connection must be TLS; without it, TLS is used when the
   * server asks for it, verified against the system's CAs.
   */
  tls?: NatsTlsFiles;
  /** How long the first connection may take, in milliseconds. Default: 5000. */
  timeoutMs?: number;
  /** Reconnect attempts per server after a loss; `-1` means forever. Default: `-1`. */
  maxReconnectAttempts?: number;
  /** Wait between reconnect attempts to one server, in milliseconds. Default: 250. */
  reconnectWaitMs?: number;
  /** Prefix of {@linkcode NatsBus.newInbox} subjects. Default: `"_INBOX"`. */
  inboxPrefix?: string;
  /** Where connection events and misbehaving subscribers are reported. Default: standard error. */
  logger?: Logger;
}

/** Certificate files for a TLS connection to NATS (PEM). */
export interface NatsTlsFiles {
  /** The CA(s) that signed the server's certificate. Default: the system's CAs. */
  caFile?: string;
  /** This client's certificate, for servers that verify clients (`--tlsverify`). */
  certFile?: string;
  /** The private key of `certFile`. */
  keyFile?: string;
}

/** Options for the {@linkcode NatsBus} constructor (when wrapping an existing connection). */
export interface NatsBusWrapOptions {
  /** The server address for logs. Default: the connection's current server. */
  address?: string;
  /** The inbox prefix the connection was opened with. Default: `"_INBOX"`. */
  inboxPrefix?: string;
  /** Default: a logger writing to standard error. */
  logger?: Logger;
}

const EMPTY = new Uint8Array(0);
const DEFAULT_PORT = 4222;
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
        const headers = options.headers ? _toNatsHeaders(options.headers) : undefined;
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
            onMessage(_toBusMessage(msg));
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

/**
 * Connects to NATS and returns a {@linkcode NatsBus}. The first connection must succeed within
 * `timeoutMs`; after that the connection reconnects forever (by default) every 250 ms.
 *
 * Throws `Error("Cannot connect to NATS at nats://127.0.0.1:4222: connection refused")` (the
 * nats.js error as `cause`) when the first connection fails, a `TypeError` for a malformed server
 * address or several kinds of credentials, and `Error('Cannot read the NATS TLS CA file "..."')`
 * (or key, certificate, NKey seed file) when a file cannot be read or does not hold what it should.
 * When the server refuses a client that gave no credentials, or a certificate is not trusted, the
 * message says what to set.
 *
 * @example
 * ```ts
 * import { connectNatsBus } from "./nats_bus.ts";
 * const bus = await connectNatsBus({ servers: Deno.env.get("NATS_SERVER") ?? "localhost:4222" });
 * ```
 */
export async function connectNatsBus(options: NatsBusOptions): Promise<NatsBus> {
  const servers = _serverList(options.servers);
  const shown = servers.map(_redact).join(", ");
  const inboxPrefix = options.inboxPrefix ?? "_INBOX";
  const timeoutMs = options.timeoutMs ?? 5000;
  const kinds = [
    options.user !== undefined || options.pass !== undefined ? "a user and password" : "",
    options.token !== undefined ? "a token" : "",
    options.nkeySeedFile !== undefined ? "an NKey seed file" : "",
  ].filter(Boolean);
  if (kinds.length > 1) {
    throw new TypeError(
      `Cannot connect to NATS at ${shown}: give one kind of credentials, not ${
        kinds.join(" and ")
      }`,
    );
  }
  const authenticator = options.nkeySeedFile === undefined
    ? undefined
    : await _nkeyAuthenticator(options.nkeySeedFile);
  const tls = options.tls === undefined ? undefined : await _tlsOptions(options.tls);
  let nc: NatsConnection;
  try {
    nc = await _connect({
      servers,
      name: options.name,
      user: options.user,
      pass: options.pass,
      token: options.token,
      ...(authenticator ? { authenticator } : {}),
      ...(tls ? { tls } : {}),
      timeout: timeoutMs,
      reconnect: true,
      maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
      reconnectTimeWait: options.reconnectWaitMs ?? 250,
      waitOnFirstConnect: false,
      inboxPrefix,
    });
  } catch (error) {
    const reason = _reason(error, timeoutMs);
    throw new Error(`Cannot connect to NATS at ${shown}: ${reason}${_hint(reason, options)}`, {
      cause: error,
    });
  }
  return new NatsBus(nc, { address: shown, inboxPrefix, logger: options.logger });
}

/** What to do about a refused connection, when the reason says it: `" (set ...)"` or `""`. */
function _hint(reason: string, options: NatsBusOptions): string {
  const credentials = options.user ?? options.pass ?? options.token ?? options.nkeySeedFile;
  if (/authorization violation/i.test(reason) && credentials === undefined) {
    return " (the server wants credentials: set NATS_USER and NATS_PASSWORD, NATS_TOKEN or " +
      "NATS_NKEY_SEED_FILE)";
  }
  if (/unable to (verify|get local issuer)|self[- ]signed certificate/i.test(reason)) {
    return options.tls?.caFile === undefined
      ? " (the server's TLS certificate is not signed by a CA this client trusts: set " +
        "NATS_CA_FILE to the CA that signed it)"
      : ` (the server's TLS certificate is not signed by the CA in "${options.tls.caFile}")`;
  }
  const timedOut = /^no answer within/.test(reason);
  if (/certificate required|alert number 116|handshake failure/i.test(reason) || timedOut) {
    // A server that verifies clients (--tlsverify) closes the connection of a client without a
    // certificate in a way nats.js under Deno does not notice: the first connect times out.
    if (timedOut && (options.tls === undefined || options.tls.certFile !== undefined)) return "";
    return options.tls?.certFile === undefined
      ? " (if the server verifies clients (--tlsverify), set NATS_CERT_FILE and NATS_KEY_FILE " +
        "to a client certificate and its key)"
      : " (the server did not accept the client certificate)";
  }
  return "";
}

/** Reads a PEM (or seed) file for a connection; every failure names the file and its role. */
async function _readFile(path: string, what: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(`Cannot read the ${what} "${path}": ${_fileProblem(error)}`, { cause: error });
  }
  return text;
}

/** A file error in a few words (`not found`, `permission denied`, ...). */
function _fileProblem(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "not found";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) return "no read permission (--allow-read)";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return error instanceof Error ? error.message : String(error);
}

/** The TLS options of nats.js, with the files' contents (checked to be PEM). */
async function _tlsOptions(files: NatsTlsFiles): Promise<TlsOptions> {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new TypeError(
      "Cannot connect to NATS: a TLS client certificate needs its key (certFile and keyFile)",
    );
  }
  const tls: TlsOptions = {};
  const read = async (path: string, what: string, kind: RegExp) => {
    const text = await _readFile(path, what);
    if (!kind.test(text)) {
      throw new Error(`Cannot read the ${what} "${path}": it holds no PEM ${kind.source}`);
    }
    return text;
  };
  if (files.caFile !== undefined) {
    tls.ca = await read(files.caFile, "NATS TLS CA file", /CERTIFICATE/);
  }
  if (files.certFile !== undefined && files.keyFile !== undefined) {
    tls.cert = await read(files.certFile, "NATS TLS certificate file", /CERTIFICATE/);
    tls.key = await read(files.keyFile, "NATS TLS key file", /PRIVATE KEY/);
  }
  return tls;
}

/** An NKey authenticator from a seed file; checks that it holds a user seed (never shown). */
async function _nkeyAuthenticator(path: string): Promise<Authenticator> {
  const what = "NATS NKey seed file";
  const text = await _readFile(path, what);
  // The file may hold only the seed, or the seed among other lines (as `nk -gen user -pubout`).
  const seed = /\bSU[A-Z2-7]{50,}\b/.exec(text)?.[0];
  let publicKey = "";
  try {
    if (seed) publicKey = nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } catch {
    // not a valid seed: said below
  }
  if (!publicKey.startsWith("U")) {
    throw new Error(`Cannot read the ${what} "${path}": it holds no user NKey seed (SU...)`);
  }
  const bytes = new TextEncoder().encode(seed);
  return nkeyAuthenticator(() => bytes);
}

/**
 * nats.js's Node transport detaches every socket listener (`removeAllListeners()`) when it closes
 * a socket. Under Deno, a read error (ECONNRESET: the server closed right after `-ERR
 * 'Authorization Violation'`) can already be queued for emission at that moment; with no
 * `error` listener left it becomes an uncaught exception that kills the process. This transport
 * keeps a no-op `error` listener on its sockets at all times; nats.js's own listeners still see
 * every error while they are attached. It also names the host a TLS certificate is checked
 * against (see `startTLS`).
 */
class _GuardedTransport extends NodeTransport {
  #hostname = "";
  #early: _EarlyEvents | undefined;
  override async dial(hp: { hostname: string; port: number }): Promise<Socket> {
    this.#hostname = hp.hostname;
    return _guardSocket(await super.dial(hp));
  }
  /**
   * The STARTTLS upgrade, as nats.js's own with two differences that matter under Deno:
   *
   * - It names the host dialled: Deno's `node:tls` checks the server's certificate against
   *   `servername`, else `host`, else `"localhost"` (Node falls back to the socket's host).
   *   nats.js gives no server name for an IP address and no host, so a certificate for 10.0.0.5
   *   would be checked against "localhost".
   * - The socket is guarded from its creation, and what happens between the end of the handshake
   *   and `setupHandlers()` is kept for nats.js. A server that verifies clients (`--tlsverify`)
   *   answers a client without a certificate with an alert right after the handshake; Deno can
   *   deliver it in the same read as the handshake's end, just after nats.js has removed every
   *   listener: unguarded, it killed the process ("Uncaught Error: received fatal alert").
   */
  override startTLS(): Promise<TLSSocket> {
    const configured = this.options.tls;
    const options: ConnectionOptions = {
      socket: this.socket,
      servername: this.tlsName,
      host: this.#hostname,
      rejectUnauthorized: true,
      ...(typeof configured === "object" && configured !== null ? configured : {}),
    };
    const early: _EarlyEvents = { closed: false };
    this.#early = early;
    return new Promise<TLSSocket>((resolve, reject) => {
      let failure: unknown;
      const socket = tlsConnect(options, () => {
        socket.removeAllListeners(); // nats.js attaches its own in setupHandlers()
        resolve(socket);
      });
      _guardSocket(socket, early);
      socket.on("error", (error) => (failure = error));
      socket.on("close", () => reject(failure ?? new Error("the TLS handshake did not finish")));
    });
  }
  /** nats.js's handlers, then whatever the socket reported before they were attached. */
  override setupHandlers(): void {
    super.setupHandlers();
    const early = this.#early;
    this.#early = undefined;
    if (early?.error !== undefined) this.socket.emit("error", early.error);
    if (early?.closed) this.socket.emit("close", early.error !== undefined);
  }
  override async tlsFirst(hp: { hostname: string; port: number }): Promise<TLSSocket> {
    return _guardSocket(await super.tlsFirst(hp));
  }
}

/** What a TLS socket reported while nobody else listened (see `_GuardedTransport.startTLS`). */
interface _EarlyEvents {
  error?: unknown;
  closed: boolean;
}

function _ignore(): void {}

/**
 * Keeps an `error` listener on `socket` whatever `removeAllListeners` removes; with `early`, that
 * listener (and one for `close`) also records what happened, until nats.js listens itself.
 */
function _guardSocket<S extends Socket>(socket: S, early?: _EarlyEvents): S {
  const target: Socket = socket;
  const onError = early
    ? (error: unknown) => {
      if (early.error === undefined) early.error = error;
    }
    : _ignore;
  const onClose = () => {
    if (early) early.closed = true;
  };
  const removeAll = target.removeAllListeners;
  // Keep the caller's arity: `removeAllListeners(undefined)` is not `removeAllListeners()`.
  target.removeAllListeners = (...args: [eventName?: string | symbol]) => {
    removeAll.apply(target, args);
    if (args.length === 0 || args[0] === "error") target.on("error", onError);
    if (early && (args.length === 0 || args[0] === "close")) target.on("close", onClose);
    return target;
  };
  target.on("error", onError);
  if (early) target.on("close", onClose);
  return socket;
}

/** `connect()` of `@nats-io/transport-node`, with {@linkcode _GuardedTransport}. */
function _connect(
  options: Parameters<typeof NatsConnectionImpl.connect>[0],
): Promise<NatsConnection> {
  setTransportFactory({ factory: () => new _GuardedTransport(), dnsResolveFn: nodeResolveHost });
  return NatsConnectionImpl.connect(options);
}

function _toBusMessage(msg: Msg): BusMessage {
  const subject = msg.subject;
  const data = msg.data;
  const reply = msg.reply || undefined;
  const hdrs = msg.headers;
  if (hdrs === undefined) {
    return reply === undefined ? { subject, data } : { subject, reply, data };
  }
  if (hdrs.code === 503 && data.length === 0) {
    return { subject, data: EMPTY, noResponders: true };
  }
  const headers = _fromNatsHeaders(hdrs);
  if (headers === undefined) {
    return reply === undefined ? { subject, data } : { subject, reply, data };
  }
  return reply === undefined ? { subject, headers, data } : { subject, reply, headers, data };
}

function _toNatsHeaders(headers: MeshHeaders): MsgHdrs | undefined {
  let out: MsgHdrs | undefined;
  for (const key in headers) {
    const value = headers[key];
    if (typeof value === "string" && Object.hasOwn(headers, key)) {
      (out ??= natsHeaders()).append(key, value);
    }
  }
  return out;
}

function _fromNatsHeaders(hdrs: MsgHdrs): MeshHeaders | undefined {
  let out: MeshHeaders | undefined;
  for (const [key, values] of hdrs) {
    const first = values[0];
    if (first !== undefined) (out ??= {})[key] = first;
  }
  return out;
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

/** The reason in a connect failure, without a stack. */
function _reason(error: unknown, timeoutMs: number): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError") return `no answer within ${timeoutMs}ms`;
  const message = error.message.replace(/^'(.*)'$/, "$1");
  return message || error.name;
}

function _serverList(servers: string | string[]): string[] {
  const list = (Array.isArray(servers) ? servers : [servers])
    .flatMap((s) => String(s).split(","))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (list.length === 0) throw new TypeError("Cannot connect to NATS: no server given");
  return list.map(_normalizeServer);
}

/** `host:port` → `nats://host:port`; adds port 4222 when missing. */
function _normalizeServer(server: string): string {
  const withScheme = server.includes("://") ? server : `nats://${server}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new TypeError(`Cannot connect to NATS at "${server}": not a valid address`);
  }
  if (!url.hostname) {
    throw new TypeError(`Cannot connect to NATS at "${server}": not a valid address`);
  }
  const auth = url.username ? `${url.username}${url.password ? `:${url.password}` : ""}@` : "";
  return `${url.protocol}//${auth}${url.hostname}:${url.port || DEFAULT_PORT}`;
}

/** The address without credentials, for messages and logs. */
function _redact(server: string): string {
  return server.replace(/\/\/[^@/]*@/, "//");
}

/**
 * Throws a `TypeError` unless `subject` is a valid subscription subject (the server would reject
 * it asynchronously, leaving a subscription that never delivers).
 */
