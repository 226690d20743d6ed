/**
 * The cluster discovery plane: a {@linkcode Registry} on etcd v3, through `npm:etcd3`'s raw RPC
 * clients (no auto keep-alive: the lease keeper renews leases itself, one `keepAlive` at a time).
 *
 * Every call is bounded by `dialTimeoutMs`, so a down etcd makes calls throw instead of hang.
 * `keepAlive` tells the two failures apart: it resolves `false` when etcd says the lease is gone
 * and throws when etcd cannot be reached.
 *
 * Security: a user name and password (etcd's authentication), and TLS with a CA file and, for
 * etcd's `--client-cert-auth`, a client certificate and key. With TLS the endpoints are
 * `https://`. The files are read when the registry is made, so a missing or unreadable one is an
 * error naming it. gRPC gives the endpoint's host as the TLS server name, which Deno refuses for
 * an IP address (Node only warns): see `_allowIpServerName`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { isIP } from "node:net";
import tls from "node:tls";
import { ExponentialBackoff, handleWhen, type IBackoff, noop, retry } from "cockatiel";
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdLeaseInvalidError,
  type IDuplexStream,
  type IOptions,
  isRecoverableError,
  type IWatchRequest,
  type IWatchResponse,
  Range,
} from "etcd3";
import { createLogger, type Logger } from "./logger.ts";
import type {
  LeaseId,
  PrefixSnapshot,
  Registry,
  RegistryWatch,
  WatchEvent,
  WatchHandlers,
} from "./registry.ts";

/** Options for {@linkcode connectEtcdRegistry}. */
export interface EtcdRegistryOptions {
  /**
   * Client URLs: `http://host:port`, bare `host:port` (http is assumed) or a comma-separated list
   * of either, as in `ETCD_ENDPOINTS`. A missing port means 2379.
   */
  endpoints: string | string[];
  /** User name, when etcd has authentication on. */
  username?: string;
  /** Password for {@linkcode EtcdRegistryOptions.username}. */
  password?: string;
  /**
   * TLS. When present (even `{}`), endpoints without a scheme are `https://` and `http://` ones
   * are an error; without it, `https://` endpoints use the system's CAs.
   */
  tls?: EtcdTlsFiles;
  /** How long one call (connect, read, write, renew) may take before it fails. Default: 5000. */
  dialTimeoutMs?: number;
  /** Where watch disconnects and reconnects are logged. Default: a logger on standard error. */
  logger?: Logger;
}

/** Certificate files for a TLS connection to etcd (PEM). */
export interface EtcdTlsFiles {
  /** The CA(s) that signed etcd's certificate (`--trusted-ca-file` side). Default: system CAs. */
  caFile?: string;
  /** This client's certificate, for etcd's `--client-cert-auth`. */
  certFile?: string;
  /** The private key of `certFile`. */
  keyFile?: string;
}

/** Options for {@linkcode parseEtcdEndpoints}. */
export interface ParseEtcdEndpointsOptions {
  /** TLS is configured: endpoints without a scheme are `https://`, and `http://` is an error. */
  tls?: boolean;
}

const DEFAULT_PORT = 2379;
/** A key of the mesh's own prefix: reading it checks that the credentials allow reads there. */
const ACCESS_CHECK_KEY = "mesh/";

/**
 * Turns `ETCD_ENDPOINTS`-style input into normalised client URLs (`http://host:port`, or
 * `https://host:port` with `{ tls: true }`).
 *
 * @example
 * ```ts
 * import { parseEtcdEndpoints } from "./etcd_registry.ts";
 * const urls = parseEtcdEndpoints("127.0.0.1:2379, http://etcd-2:2379");
 * console.assert(urls.join() === "http://127.0.0.1:2379,http://etcd-2:2379");
 * ```
 */
export function parseEtcdEndpoints(
  endpoints: string | string[],
  options: ParseEtcdEndpointsOptions = {},
): string[] {
  const items = (Array.isArray(endpoints) ? endpoints : [endpoints])
    .flatMap((item) => item.split(","))
    .map((item) => item.trim())
    .filter(Boolean);
  if (items.length === 0) throw new TypeError("No etcd endpoints given");
  return items.map((item) => {
    const scheme = options.tls ? "https" : "http";
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(item) ? item : `${scheme}://${item}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new TypeError(`Invalid etcd endpoint "${item}": expected http://host:port`);
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || !url.hostname) {
      throw new TypeError(`Invalid etcd endpoint "${item}": expected http://host:port`);
    }
    if (options.tls && url.protocol === "http:") {
      throw new TypeError(
        `Invalid etcd endpoint "${item}": TLS is configured (a CA, certificate or key file), ` +
          "so it must be https://",
      );
    }
    return `${url.protocol}//${url.hostname}:${url.port || DEFAULT_PORT}`;
  });
}

/**
 * grpc-js gives the endpoint's host as the TLS server name (SNI). For an IP address RFC 6066
 * forbids that; Node only warns, but Deno's `node:tls` throws ("The property
 * 'options.servername' must not be an IP address"), so no TLS connection to `https://<IP>` could
 * ever be made. This wraps `tls.connect` once, process-wide, to leave an IP server name out. The
 * certificate is still checked against the address: `node:tls` then checks `host`, which grpc-js
 * sets to the same address.
 */
function _allowIpServerName(): void {
  if (_ipServerNameAllowed) return;
  _ipServerNameAllowed = true;
  const connect = tls.connect;
  const wrapped = function (this: unknown, ...args: unknown[]) {
    const options = args.find((arg) => typeof arg === "object" && arg !== null) as
      | tls.ConnectionOptions
      | undefined;
    if (options && typeof options.servername === "string" && isIP(options.servername)) {
      const { servername: _ipAddress, ...rest } = options;
      args[args.indexOf(options)] = rest;
    }
    return Reflect.apply(connect, this, args);
  };
  (tls as { connect: unknown }).connect = wrapped;
}
let _ipServerNameAllowed = false;

/** etcd3's `credentials` from the files (read now; every failure names the file). */
function _credentials(files: EtcdTlsFiles): NonNullable<IOptions["credentials"]> {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new TypeError("etcd TLS: a client certificate needs its key (certFile and keyFile)");
  }
  const read = (path: string | undefined, what: string, kind: RegExp) => {
    if (path === undefined) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(path);
    } catch (error) {
      throw new Error(`Cannot read the ${what} "${path}": ${_fileProblem(error)}`, {
        cause: error,
      });
    }
    if (!kind.test(new TextDecoder().decode(bytes))) {
      throw new Error(`Cannot read the ${what} "${path}": it holds no PEM ${kind.source}`);
    }
    return Buffer.from(bytes);
  };
  return {
    // null: the system's CAs (grpc-js's createSsl takes null; etcd3's type says Buffer).
    rootCertificate: read(files.caFile, "etcd TLS CA file", /CERTIFICATE/) ??
      (null as unknown as Buffer),
    certChain: read(files.certFile, "etcd TLS certificate file", /CERTIFICATE/),
    privateKey: read(files.keyFile, "etcd TLS key file", /PRIVATE KEY/),
  };
}

/** A file error in a few words (`not found`, `permission denied`, ...). */
function _fileProblem(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "not found";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) return "no read permission (--allow-read)";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return error instanceof Error ? error.message : String(error);
}

function _reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // grpc-js appends an empty "Resolution note:" to connection errors.
  return message.replace(/\s*Resolution note:\s*$/, "").trim();
}

/** Races `promise` against a timer, so that no call can hang past `ms`. */
function _bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A {@linkcode Registry} on an etcd v3 cluster. Create it with {@linkcode connectEtcdRegistry},
 * which checks that etcd answers before handing the client out.
 *
 * @example
 * ```ts ignore
 * import { connectEtcdRegistry } from "./etcd_registry.ts";
 * const registry = await connectEtcdRegistry({ endpoints: "http://127.0.0.1:2379" });
 * const lease = await registry.grantLease(10);
 * await registry.put("mesh/demo/instances/Worker/generate/ab12", "{}", lease);
 * console.log(await registry.keepAlive(lease)); // true, until the lease is gone
 * await registry.close();
 * ```
 */
export class EtcdRegistry implements Registry {
  /** Always `"etcd"`. */
  readonly kind = "etcd";
  /** The endpoints, comma-separated (for logs and error messages). */
  readonly address: string;
  /** The normalised client URLs. */
  readonly endpoints: readonly string[];

  readonly #client: Etcd3;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  readonly #watches = new Set<RegistryWatch>();
  readonly #tls: EtcdTlsFiles | undefined;
  readonly #username: string | undefined;
  #closed = false;

  /**
   * Creates the client without contacting etcd (gRPC connects lazily); prefer
   * {@linkcode connectEtcdRegistry}, which also checks that etcd answers.
   */
  constructor(options: EtcdRegistryOptions) {
    this.endpoints = parseEtcdEndpoints(options.endpoints, { tls: options.tls !== undefined });
    this.address = this.endpoints.join(",");
    this.#timeoutMs = options.dialTimeoutMs ?? 5000;
    if (!(this.#timeoutMs > 0)) {
      throw new RangeError(`dialTimeoutMs must be positive: got ${options.dialTimeoutMs}`);
    }
    this.#logger = options.logger ??
      createLogger().child({ component: "etcd_registry", etcd: this.address });
    const etcdOptions: IOptions = {
      hosts: [...this.endpoints],
      faultHandling: {
        // No circuit breaker: a call right after etcd comes back should reach it.
        host: () => noop,
        // One try per endpoint, all within the call's one deadline.
        global: this.endpoints.length > 1
          ? retry(handleWhen(isRecoverableError), { maxAttempts: this.endpoints.length - 1 })
          : noop,
        // Our watches run their own streams (see `_EtcdWatch`); this only keeps etcd3's own
        // watch manager, should anything use it, from leaving a 30 s reconnect timer behind.
        // etcd3 types this as an IBackoff but calls `next()` on it first, as on a factory.
        watchBackoff: new ExponentialBackoff({
          initialDelay: 100,
          maxDelay: 1000,
        }) as unknown as IBackoff<unknown>,
      },
      grpcOptions: {
        // Reconnect within a second once etcd is back (gRPC's default backoff grows to 2 min).
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 1000,
        // A per-client pool: no process-wide subchannel cleanup timer outliving the client.
        "grpc.use_local_subchannel_pool": 1,
        // Notice a silently dead connection (partition) while a watch is open. etcd refuses
        // pings more frequent than every 5 s.
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 5_000,
      },
    };
    if (options.tls) etcdOptions.credentials = _credentials(options.tls);
    if (this.endpoints.some((url) => url.startsWith("https:"))) _allowIpServerName();
    this.#tls = options.tls;
    this.#username = options.username;
    if (options.username !== undefined) {
      etcdOptions.auth = {
        username: options.username,
        password: options.password ?? "",
        callOptions: () => ({ deadline: Date.now() + this.#timeoutMs }),
      };
    }
    this.#client = new Etcd3(etcdOptions);
  }

  /**
   * Checks that etcd answers (a `Status` call) and that the credentials may read the mesh's
   * prefix (etcd with authentication on lets anyone call `Status`); throws
   * `Cannot reach etcd at <address>: <reason>`, `Cannot log in to etcd at ...` or
   * `Cannot read from etcd at ...`, with what to set when the reason says it.
   */
  async ping(): Promise<void> {
    let what = "reach";
    try {
      await this.#call("reach etcd", (options) => this.#client.maintenance.status(options));
      what = "read from";
      const request = { key: Buffer.from(ACCESS_CHECK_KEY), limit: 1, keys_only: true };
      await this.#call("read", (options) => this.#client.kv.range(request, options));
    } catch (error) {
      const cause = (error as Error).cause ?? error;
      const reason = _reason(cause);
      if (cause instanceof EtcdAuthenticationFailedError) {
        throw new Error(`Cannot log in to etcd at ${this.address}: ${reason}`, { cause });
      }
      throw new Error(`Cannot ${what} etcd at ${this.address}: ${reason}${this.#hint(reason)}`, {
        cause,
      });
    }
  }

  /** What to do about a failed first contact, when the reason says it: `" (set ...)"` or `""`. */
  #hint(reason: string): string {
    if (/user name is empty/.test(reason) && this.#username === undefined) {
      return " (etcd has authentication on: set ETCD_USERNAME and ETCD_PASSWORD)";
    }
    if (/permission denied/.test(reason)) {
      return ` (the user needs read and write access to the "${ACCESS_CHECK_KEY}" prefix)`;
    }
    if (/unable to (verify|get local issuer)|self[- ]signed certificate/i.test(reason)) {
      return this.#tls?.caFile === undefined
        ? " (etcd's TLS certificate is not signed by a CA this client trusts: set ETCD_CA_FILE " +
          "to the CA that signed it)"
        : ` (etcd's TLS certificate is not signed by the CA in "${this.#tls.caFile}")`;
    }
    const https = this.endpoints.some((url) => url.startsWith("https:"));
    if (!https && /Failed to connect|Protocol error|Connection dropped/.test(reason)) {
      return " (if etcd serves TLS, use https:// endpoints and set ETCD_CA_FILE)";
    }
    if (https && this.#tls?.certFile === undefined && /EPIPE|ECONNRESET|certificate/.test(reason)) {
      return " (if etcd verifies clients (--client-cert-auth), set ETCD_CERT_FILE and " +
        "ETCD_KEY_FILE to a client certificate and its key)";
    }
    return "";
  }

  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      throw new RangeError(`Lease TTL must be a positive number of seconds: got ${ttlSeconds}`);
    }
    const response = await this.#call(
      "grant a lease",
      (options) => this.#client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlSeconds) }, options),
    );
    if (response.error) {
      throw new Error(`Cannot grant a lease at etcd ${this.address}: ${response.error}`);
    }
    return response.ID;
  }

  async keepAlive(lease: LeaseId): Promise<boolean> {
    this.#checkOpen();
    const what = `renew lease "${lease}"`;
    const renew = async () => {
      const deadline = Date.now() + this.#timeoutMs;
      const stream = await this.#client.leaseClient.leaseKeepAlive({ deadline });
      try {
        return await new Promise<string>((resolve, reject) => {
          stream.on("data", (response) => resolve(response.TTL));
          stream.on("error", reject);
          stream.on("end", () => reject(new Error("the keep-alive stream ended")));
          stream.write({ ID: lease });
        });
      } finally {
        // Ends our side; etcd then closes the call. Late errors (e.g. cancel) are expected.
        stream.on("error", () => {});
        stream.end();
      }
    };
    try {
      const ttl = await _bounded(renew(), this.#timeoutMs + 500, what);
      return ttl !== "0";
    } catch (error) {
      if (error instanceof EtcdLeaseInvalidError) return false;
      throw new Error(`Cannot ${what} at etcd ${this.address}: ${_reason(error)}`, {
        cause: error,
      });
    }
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    try {
      await this.#call(
        `revoke lease "${lease}"`,
        (options) => this.#client.leaseClient.leaseRevoke({ ID: lease }, options),
      );
    } catch (error) {
      if ((error as Error).cause instanceof EtcdLeaseInvalidError) return;
      throw error;
    }
  }

  async put(key: string, value: string, lease?: LeaseId): Promise<void> {
    const request = { key: Buffer.from(key), value: Buffer.from(value), lease };
    try {
      await this.#call(`put "${key}"`, (options) => this.#client.kv.put(request, options));
    } catch (error) {
      const cause = (error as Error).cause;
      if (cause instanceof EtcdLeaseInvalidError) {
        throw new Error(`Cannot put "${key}": lease "${lease}" not found`, { cause });
      }
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.#call(
      `delete "${key}"`,
      (options) => this.#client.kv.deleteRange({ key: Buffer.from(key) }, options),
    );
  }

  async getPrefix(prefix: string): Promise<PrefixSnapshot> {
    const range = Range.prefix(prefix);
    const response = await this.#call(
      `read prefix "${prefix}"`,
      (options) => this.#client.kv.range({ key: range.start, range_end: range.end }, options),
    );
    const kvs = response.kvs.map((kv) => ({
      key: kv.key.toString("utf8"),
      value: kv.value.toString("utf8"),
    }));
    return { kvs, revision: BigInt(response.header.revision) };
  }

  async watchPrefix(
    prefix: string,
    fromRevision: bigint,
    handlers: WatchHandlers,
  ): Promise<RegistryWatch> {
    this.#checkOpen();
    const open = () => this.#client.watchClient.watch() as Promise<_WatchStream>;
    const watch = new _EtcdWatch(open, prefix, fromRevision, handlers, this.#logger);
    this.#watches.add(watch);
    watch.closed.then(() => this.#watches.delete(watch));
    try {
      await _bounded(watch.created, this.#timeoutMs, `watch "${prefix}"`);
    } catch (error) {
      await watch.close();
      const cause = watch.lastError ?? error;
      throw new Error(`Cannot watch "${prefix}" at etcd ${this.address}: ${_reason(cause)}`, {
        cause,
      });
    }
    return watch;
  }

  /** Ends every watch and closes the gRPC channels; leases are left to expire. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#watches].map((watch) => watch.close()));
    this.#client.close();
  }

  /** Same as {@linkcode EtcdRegistry.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error(`Cannot use the etcd registry at ${this.address}: closed`);
  }

  /**
   * One unary call with a deadline (shared by its retries), bounded by a timer as well, with
   * errors rewritten to `Cannot <what> at etcd <address>: <reason>` (the original as `cause`).
   */
  async #call<T>(what: string, fn: (options: { deadline: number }) => Promise<T>): Promise<T> {
    this.#checkOpen();
    try {
      const deadline = Date.now() + this.#timeoutMs;
      return await _bounded(fn({ deadline }), this.#timeoutMs + 500, what);
    } catch (error) {
      throw new Error(`Cannot ${what} at etcd ${this.address}: ${_reason(error)}`, {
        cause: error,
      });
    }
  }
}

type _WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

/** One gRPC watch stream and a promise for its end (gRPC always reports a final status). */
interface _Connection {
  stream: _WatchStream;
  finished: Promise<unknown>;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 1000;

/**
 * One prefix watch on its own gRPC stream (streams share the client's HTTP/2 connection).
 *
 * It does not use etcd3's `WatchManager`: that leaves a reconnect timer behind when its last
 * watcher is cancelled, hangs cancelling a watcher that etcd already cancelled, and does not
 * pass on `compact_revision`. Here the reconnect timer is ours and `close()` clears it.
 */
class _EtcdWatch implements RegistryWatch {
  /** Resolves when etcd has created the watch the first time. */
  readonly created: Promise<void>;
  /** Resolves when the watch is closed (by the caller, or after a reset). */
  readonly closed: Promise<void>;
  readonly #open: () => Promise<_WatchStream>;
  readonly #range: Range;
  readonly #prefix: string;
  readonly #handlers: WatchHandlers;
  readonly #logger: Logger;
  #resolveCreated!: () => void;
  #markClosed!: () => void;
  #connection: _Connection | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
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
    open: () => Promise<_WatchStream>,
    prefix: string,
    fromRevision: bigint,
    handlers: WatchHandlers,
    logger: Logger,
  ) {
    this.#open = open;
    this.#prefix = prefix;
    this.#range = Range.prefix(prefix);
    this.#next = fromRevision > 0n ? fromRevision : 0n;
    this.#handlers = handlers;
    this.#logger = logger;
    this.created = new Promise((resolve) => (this.#resolveCreated = resolve));
    this.closed = new Promise((resolve) => (this.#markClosed = resolve));
    this.#connect();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection) await _finish(connection);
    this.#markClosed();
  }

  async #connect(): Promise<void> {
    this.#timer = undefined;
    if (this.#closing) return;
    let stream: _WatchStream;
    try {
      stream = await this.#open();
    } catch (error) {
      this.#lost(undefined, error);
      return;
    }
    const connection: _Connection = {
      stream,
      finished: new Promise((resolve) => stream.on("status", resolve)),
    };
    if (this.#closing) {
      await _finish(connection);
      return;
    }
    this.#connection = connection;
    stream.on("data", (response) => {
      if (this.#connection === connection) this.#onResponse(response);
    });
    stream.on("error", (error) => this.#lost(connection, error));
    stream.on("end", () => this.#lost(connection, new Error("etcd ended the watch stream")));
    stream.write({
      create_request: {
        key: this.#range.start,
        range_end: this.#range.end,
        start_revision: this.#next.toString(),
        progress_notify: true,
      },
    });
  }

  #onResponse(response: IWatchResponse): void {
    const header = BigInt(response.header.revision);
    if (response.created && !response.canceled) {
      this.#onCreated(header);
    } else if (response.canceled) {
      this.#onCancelled(response);
    } else if (response.events.length === 0) {
      // A progress notification: everything up to `header` has been sent.
      if (header + 1n > this.#next) this.#next = header + 1n;
      if (header > this.#seen) this.#seen = header;
    } else {
      if (header > this.#seen) this.#seen = header;
      this.#deliver(response);
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

  #deliver(response: IWatchResponse): void {
    for (const event of response.events) {
      const revision = BigInt(event.kv.mod_revision);
      // One revision's events come in one response, so `<=` drops only replays.
      if (revision <= this.#delivered) continue;
      const key = event.kv.key.toString("utf8");
      const change: WatchEvent = event.type === "Delete"
        ? { type: "delete", key, revision }
        : { type: "put", key, value: event.kv.value.toString("utf8"), revision };
      this.#call(() => this.#handlers.onEvent(change));
    }
    for (const event of response.events) {
      const revision = BigInt(event.kv.mod_revision);
      if (revision > this.#delivered) this.#delivered = revision;
    }
    if (this.#delivered + 1n > this.#next) this.#next = this.#delivered + 1n;
  }

  /** etcd cancelled the watch: a compacted start revision, or another server-side reason. */
  #onCancelled(response: IWatchResponse): void {
    this.#resolveCreated();
    const compacted = BigInt(response.compact_revision || "0");
    this.#reset(
      compacted > 0n
        ? `Revision ${this.#next} has been compacted (etcd keeps history from revision ` +
          `${compacted})`
        : `etcd cancelled the watch${response.cancel_reason ? `: ${response.cancel_reason}` : ""}`,
    );
  }

  /** The stream failed: report it once, then reconnect after a short, growing delay. */
  #lost(connection: _Connection | undefined, error: unknown): void {
    if (connection && connection !== this.#connection) return;
    this.lastError = error;
    this.#connection = undefined;
    if (connection) _finish(connection);
    if (this.#closing || this.#timer !== undefined) return;
    if (this.#connected) {
      this.#connected = false;
      this.#logger.warn("etcd watch disconnected", { prefix: this.#prefix, error: _reason(error) });
      this.#call(() => this.#handlers.onConnection?.(false));
    }
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.#attempt++);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.#timer = setTimeout(() => this.#connect(), delay);
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

/**
 * Ends a watch stream and waits (briefly) for gRPC's final status. etcd does not end a watch
 * on the client's half-close, so the call is cancelled; ending our side first keeps etcd3 from
 * treating the cancel as a connection failure (it resets every channel on those).
 */
async function _finish(connection: _Connection): Promise<void> {
  const { stream } = connection;
  stream.on("error", () => {});
  try {
    stream.end();
    stream.cancel();
  } catch {
    // already finished
  }
  await _bounded(connection.finished, 1000, "closing the watch stream").catch(() => {});
}

/**
 * Connects to etcd and checks that it answers within `dialTimeoutMs` (default 5 s).
 *
 * @throws {Error} `Cannot reach etcd at http://127.0.0.1:2379: <reason>` when it does not.
 *
 * @example
 * ```ts ignore
 * import { connectEtcdRegistry } from "./etcd_registry.ts";
 * const registry = await connectEtcdRegistry({
 *   endpoints: Deno.env.get("ETCD_ENDPOINTS") ?? "127.0.0.1:2379",
 * });
 * ```
 */
export async function connectEtcdRegistry(options: EtcdRegistryOptions): Promise<EtcdRegistry> {
  const registry = new EtcdRegistry(options);
  try {
    await registry.ping();
    return registry;
  } catch (error) {
    await registry.close();
    throw error;
  }
}
