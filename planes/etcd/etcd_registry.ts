/**
 * The cluster discovery plane: a {@linkcode Registry} on etcd v3, through etcd's HTTP/JSON
 * gateway (`/v3/...`, etcd ≥ 3.4) with Deno's `fetch`. No gRPC and no `node:http2`: Deno's
 * `node:http2` crashes the whole process when etcd stops gracefully and sends an HTTP/2 GOAWAY
 * (denoland/deno#36788), while `fetch` (hyper) turns any connection trouble into an error.
 *
 * Every call is bounded by `dialTimeoutMs`, so a down etcd makes calls throw instead of hang.
 * `keepAlive` tells the two failures apart: it resolves `false` when etcd says the lease is gone
 * and throws when etcd cannot be reached. Calls fail over to the next endpoint when one cannot be
 * reached. Errors from etcd read as gRPC statuses (`7 PERMISSION_DENIED: etcdserver: ...`), since
 * the gateway passes them on as `{code, message}`.
 *
 * Security: a user name and password (etcd's authentication: `/v3/auth/authenticate` gives a
 * token, sent in the `Authorization` header and renewed when etcd rejects it), and TLS with a CA
 * file and, for etcd's `--client-cert-auth`, a client certificate and key (a
 * `Deno.createHttpClient`). With TLS the endpoints are `https://`. The files are read when the
 * registry is made, so a missing or unreadable one is an error naming it. etcd's gateway ignores
 * a client certificate's CN as a user name (it is a proxy inside etcd), so with authentication on
 * a user name and password are needed even with a client certificate.
 *
 * Watches are long-lived `POST /v3/watch` responses, one JSON message per line; a quiet watch is
 * checked every {@linkcode WATCH_PROBE_MS} with a `Status` call, so a silently dead connection
 * (a partition) is noticed.
 *
 * @module
 */

import { createLogger, type Logger } from "../../utils/logger.ts";
import type {
  LeaseId,
  PrefixSnapshot,
  Registry,
  RegistryWatch,
  WatchEvent,
  WatchHandlers,
} from "../registry.ts";

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

/** gRPC status names, for messages in the `<code> <NAME>: <message>` form etcd users know. */
const GRPC_CODES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

/** An error from etcd (or from reaching it), as a gRPC status. */
class _EtcdError extends Error {
  readonly code: number;
  readonly detail: string;
  constructor(code: number, detail: string, options?: ErrorOptions) {
    super(`${code} ${GRPC_CODES[code] ?? "UNKNOWN"}: ${detail}`, options);
    this.name = "EtcdError";
    this.code = code;
    this.detail = detail;
  }
}

/** `/v3/auth/authenticate` refused the user name or password. */
class _EtcdAuthenticationError extends _EtcdError {}

const LEASE_NOT_FOUND = /requested lease not found/;
const TOKEN_REJECTED = /invalid auth token|auth token is expired|revision in header is old/;

/** The certificates and key from the files (read now; every failure names the file). */
function _tlsOptions(files: EtcdTlsFiles): Deno.CreateHttpClientOptions {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new TypeError("etcd TLS: a client certificate needs its key (certFile and keyFile)");
  }
  const read = (path: string | undefined, what: string, kind: RegExp) => {
    if (path === undefined) return undefined;
    let text: string;
    try {
      text = new TextDecoder().decode(Deno.readFileSync(path));
    } catch (error) {
      throw new Error(`Cannot read the ${what} "${path}": ${_fileProblem(error)}`, {
        cause: error,
      });
    }
    if (!kind.test(text)) {
      throw new Error(`Cannot read the ${what} "${path}": it holds no PEM ${kind.source}`);
    }
    return text;
  };
  const ca = read(files.caFile, "etcd TLS CA file", /CERTIFICATE/);
  const cert = read(files.certFile, "etcd TLS certificate file", /CERTIFICATE/);
  const key = read(files.keyFile, "etcd TLS key file", /PRIVATE KEY/);
  const options: Deno.CreateHttpClientOptions = {};
  if (ca !== undefined) options.caCerts = [ca];
  if (cert !== undefined && key !== undefined) Object.assign(options, { cert, key });
  return options;
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
  return (error instanceof Error ? error.message : String(error)).trim();
}

/**
 * A fetch failure in a few words. Deno's messages read `error sending request for url (...):
 * client error (Connect): ...`; the URL is in the error already, and TLS failures get the words
 * people (and our hints) know from OpenSSL.
 */
function _networkReason(error: unknown): string {
  // Deno's fetch says "fetch failed", with the reason in `cause`.
  let inner: unknown = error;
  while (
    inner instanceof Error && inner.cause !== undefined && /^fetch failed$/i.test(inner.message)
  ) inner = inner.cause;
  let text = _reason(inner).replace(/^error sending request for url \([^)]*\):\s*/, "");
  if (/UnknownIssuer|unknown ?issuer/i.test(text)) {
    text = `unable to verify the first certificate (${text})`;
  } else if (/NotValidForName|not valid for name/i.test(text)) {
    text = `the certificate's names (altnames) do not match the host (${text})`;
  } else if (/CertificateRequired|BadCertificate|alert/i.test(text)) {
    text = `etcd refused the TLS handshake: ECONNRESET, no client certificate accepted (${text})`;
  }
  return text;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function _b64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function _b64text(text: string): string {
  return _b64(encoder.encode(text));
}

function _unb64(text: string | undefined): string {
  if (!text) return "";
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return decoder.decode(bytes);
}

/** `key` and `range_end` (base64) for every key under `prefix`, as etcd's `--prefix`. */
function _prefixRange(prefix: string): { key: string; range_end: string } {
  const start = encoder.encode(prefix);
  if (start.length === 0) {
    return { key: _b64(new Uint8Array([0])), range_end: _b64(new Uint8Array([0])) };
  }
  const end = start.slice();
  let i = end.length - 1;
  while (i >= 0 && end[i] === 0xff) i--;
  if (i < 0) return { key: _b64(start), range_end: _b64(new Uint8Array([0])) };
  end[i] = end[i]! + 1;
  return { key: _b64(start), range_end: _b64(end.subarray(0, i + 1)) };
}

/** An etcd error body (`{"error", "message", "code"}`, or a stream's `{"error": {...}}`). */
// deno-lint-ignore no-explicit-any
function _errorOf(body: any): _EtcdError | undefined {
  if (!body || typeof body !== "object" || body.error === undefined) return undefined;
  const error = typeof body.error === "object" && body.error !== null ? body.error : body;
  const code = Number(error.code ?? error.grpc_code ?? 2);
  const message = String(error.message ?? error.error ?? "unknown error");
  return new _EtcdError(Number.isFinite(code) ? code : 2, message);
}

// deno-lint-ignore no-explicit-any
type _Json = any;

/** Where a request goes, and how: the registry's shared transport. */
class _Transport {
  readonly endpoints: readonly string[];
  readonly timeoutMs: number;
  readonly client: Deno.HttpClient | undefined;
  readonly #username: string | undefined;
  readonly #password: string;
  #preferred = 0;
  #token: Promise<string> | undefined;

  constructor(
    endpoints: readonly string[],
    timeoutMs: number,
    client: Deno.HttpClient | undefined,
    username: string | undefined,
    password: string,
  ) {
    this.endpoints = endpoints;
    this.timeoutMs = timeoutMs;
    this.client = client;
    this.#username = username;
    this.#password = password;
  }

  /**
   * Opens `POST path` on the first endpoint that answers, in one deadline (`signal`); a
   * connection failure moves on to the next endpoint (and tries the same one once more when there
   * is one: a pooled connection may have died with a restarted etcd). Resolves with the response
   * (body unread) or throws an {@linkcode _EtcdError}.
   */
  async open(path: string, body: unknown, signal: AbortSignal, token?: string): Promise<Response> {
    const attempts = Math.max(2, this.endpoints.length);
    let last: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (signal.aborted) break;
      const index = (this.#preferred + attempt) % this.endpoints.length;
      const endpoint = this.endpoints[index]!;
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (token !== undefined) headers.authorization = token;
      try {
        const response = await fetch(`${endpoint}${path}`, {
          method: "POST",
          headers,
          body: JSON.stringify(body),
          signal,
          ...(this.client ? { client: this.client } : {}),
        });
        this.#preferred = index;
        return response;
      } catch (error) {
        last = error;
        if (signal.aborted) break;
      }
    }
    if (signal.aborted && (last === undefined || _isAbort(last))) {
      throw new _EtcdError(DEADLINE_EXCEEDED, `no answer within ${this.timeoutMs}ms`);
    }
    throw new _EtcdError(UNAVAILABLE, _networkReason(last), { cause: last });
  }

  /** One unary call: JSON in, JSON out, within `timeoutMs`, with the token when there is a user. */
  async call(path: string, body: unknown): Promise<_Json> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    try {
      for (let attempt = 0;; attempt++) {
        const token = await this.token(controller.signal);
        const json = await this.#unary(path, body, controller.signal, token);
        const error = _errorOf(json);
        if (error && token !== undefined && attempt === 0 && TOKEN_REJECTED.test(error.detail)) {
          this.invalidate(token);
          continue;
        }
        if (error) throw error;
        return json;
      }
    } catch (error) {
      if (error instanceof _EtcdError) throw error;
      if (controller.signal.aborted) {
        throw new _EtcdError(DEADLINE_EXCEEDED, `no answer within ${this.timeoutMs}ms`, {
          cause: error,
        });
      }
      throw new _EtcdError(UNAVAILABLE, _networkReason(error), { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  async #unary(path: string, body: unknown, signal: AbortSignal, token?: string): Promise<_Json> {
    const response = await this.open(path, body, signal, token);
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      if (/CommonName of client sending a request against gateway/.test(text)) {
        throw new _EtcdError(
          16,
          `etcd refused the request: ${text.trim()} (with --client-cert-auth and ` +
            "authentication on, etcd's HTTP gateway refuses any client certificate that has a " +
            "Common Name: use a client certificate without a CN, and ETCD_USERNAME and " +
            "ETCD_PASSWORD)",
        );
      }
      throw new _EtcdError(
        UNAVAILABLE,
        `Protocol error: etcd answered HTTP ${response.status} with no JSON: ` +
          text.slice(0, 200).trim(),
      );
    }
  }

  /** The auth token (logging in when there is none yet), or `undefined` without a user. */
  token(signal: AbortSignal): Promise<string | undefined> {
    if (this.#username === undefined) return Promise.resolve(undefined);
    const current = this.#token ??= this.#authenticate(signal);
    current.catch(() => {
      if (this.#token === current) this.#token = undefined;
    });
    return current;
  }

  /** Forgets `token` (etcd rejected it: expired, or etcd restarted); the next call logs in. */
  invalidate(token: string): void {
    this.#token?.then((current) => {
      if (current === token) this.#token = undefined;
    }, () => {});
  }

  async #authenticate(signal: AbortSignal): Promise<string> {
    const json = await this.#unary(
      "/v3/auth/authenticate",
      { name: this.#username, password: this.#password },
      signal,
    );
    const error = _errorOf(json);
    if (error) {
      throw error.code === UNAVAILABLE || error.code === DEADLINE_EXCEEDED
        ? error
        : new _EtcdAuthenticationError(error.code, error.detail);
    }
    if (typeof json?.token !== "string") {
      throw new _EtcdAuthenticationError(2, "etcd gave no auth token");
    }
    return json.token;
  }
}

function _isAbort(error: unknown): boolean {
  return error instanceof DOMException &&
    (error.name === "AbortError" || error.name === "TimeoutError");
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

  readonly #transport: _Transport;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  readonly #watches = new Set<_EtcdWatch>();
  readonly #tls: EtcdTlsFiles | undefined;
  readonly #username: string | undefined;
  #closed = false;

  /**
   * Creates the client without contacting etcd; prefer {@linkcode connectEtcdRegistry}, which
   * also checks that etcd answers.
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
    const client = options.tls ? Deno.createHttpClient(_tlsOptions(options.tls)) : undefined;
    this.#tls = options.tls;
    this.#username = options.username;
    this.#transport = new _Transport(
      this.endpoints,
      this.#timeoutMs,
      client,
      options.username,
      options.password ?? "",
    );
  }

  /**
   * Checks that etcd answers (a `Status` call) and that the credentials may read the mesh's
   * prefix (etcd with authentication on lets anyone call `Status`); throws
   * `Cannot reach etcd at <address>: <reason>`, `Cannot log in to etcd at ...` or
   * `Cannot read from etcd at ...`, with what to set when the reason says it.
   */
  async ping(): Promise<void> {
    this.#checkOpen();
    let what = "reach";
    try {
      await this.#transport.call("/v3/maintenance/status", {});
      what = "read from";
      await this.#transport.call("/v3/kv/range", {
        key: _b64text(ACCESS_CHECK_KEY),
        limit: "1",
        keys_only: true,
      });
    } catch (error) {
      const reason = _reason(error);
      if (error instanceof _EtcdAuthenticationError) {
        throw new Error(`Cannot log in to etcd at ${this.address}: ${reason}`, { cause: error });
      }
      throw new Error(`Cannot ${what} etcd at ${this.address}: ${reason}${this.#hint(reason)}`, {
        cause: error,
      });
    }
  }

  /** What to do about a failed first contact, when the reason says it: `" (set ...)"` or `""`. */
  #hint(reason: string): string {
    if (/user name is empty/.test(reason) && this.#username === undefined) {
      return this.#tls?.certFile === undefined
        ? " (etcd has authentication on: set ETCD_USERNAME and ETCD_PASSWORD)"
        : " (etcd has authentication on: set ETCD_USERNAME and ETCD_PASSWORD; this client " +
          "talks to etcd's HTTP gateway, which does not take the certificate's CN as the user)";
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
    if (
      https && this.#tls?.certFile === undefined &&
      /EPIPE|ECONNRESET|certificate|broken pipe|connection (reset|closed)/i.test(reason)
    ) {
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
      "/v3/lease/grant",
      { TTL: String(Math.ceil(ttlSeconds)) },
    );
    if (response.error) {
      throw new Error(`Cannot grant a lease at etcd ${this.address}: ${response.error}`);
    }
    return String(response.ID);
  }

  async keepAlive(lease: LeaseId): Promise<boolean> {
    this.#checkOpen();
    const what = `renew lease "${lease}"`;
    let response: _Json;
    try {
      // The gateway answers one keep-alive request with one `{"result": ...}` and ends the body.
      response = await this.#transport.call("/v3/lease/keepalive", { ID: lease });
    } catch (error) {
      if (error instanceof _EtcdError && LEASE_NOT_FOUND.test(error.detail)) return false;
      throw new Error(`Cannot ${what} at etcd ${this.address}: ${_reason(error)}`, {
        cause: error,
      });
    }
    const result = response?.result;
    if (!result || typeof result !== "object") {
      throw new Error(`Cannot ${what} at etcd ${this.address}: etcd gave no keep-alive answer`);
    }
    return String(result.TTL ?? "0") !== "0";
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    try {
      await this.#call(`revoke lease "${lease}"`, "/v3/lease/revoke", { ID: lease });
    } catch (error) {
      const cause = (error as Error).cause;
      if (cause instanceof _EtcdError && LEASE_NOT_FOUND.test(cause.detail)) return;
      throw error;
    }
  }

  async put(key: string, value: string, lease?: LeaseId): Promise<void> {
    const request: Record<string, string> = { key: _b64text(key), value: _b64text(value) };
    if (lease !== undefined) request.lease = lease;
    try {
      await this.#call(`put "${key}"`, "/v3/kv/put", request);
    } catch (error) {
      const cause = (error as Error).cause;
      if (cause instanceof _EtcdError && LEASE_NOT_FOUND.test(cause.detail)) {
        throw new Error(`Cannot put "${key}": lease "${lease}" not found`, { cause });
      }
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.#call(`delete "${key}"`, "/v3/kv/deleterange", { key: _b64text(key) });
  }

  async getPrefix(prefix: string): Promise<PrefixSnapshot> {
    const response = await this.#call(
      `read prefix "${prefix}"`,
      "/v3/kv/range",
      _prefixRange(prefix),
    );
    const kvs = ((response.kvs ?? []) as _Json[]).map((kv) => ({
      key: _unb64(kv.key),
      value: _unb64(kv.value),
    }));
    return { kvs, revision: BigInt(response.header?.revision ?? "0") };
  }

  async watchPrefix(
    prefix: string,
    fromRevision: bigint,
    handlers: WatchHandlers,
  ): Promise<RegistryWatch> {
    this.#checkOpen();
    const watch = new _EtcdWatch(this.#transport, prefix, fromRevision, handlers, this.#logger);
    this.#watches.add(watch);
    watch.closed.then(() => this.#watches.delete(watch));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        watch.created,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`watch "${prefix}" timed out after ${this.#timeoutMs}ms`)),
            this.#timeoutMs,
          );
        }),
      ]);
    } catch (error) {
      await watch.close();
      const cause = watch.lastError ?? error;
      throw new Error(`Cannot watch "${prefix}" at etcd ${this.address}: ${_reason(cause)}`, {
        cause,
      });
    } finally {
      clearTimeout(timer);
    }
    return watch;
  }

  /** Ends every watch and releases the HTTP client; leases are left to expire. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#watches].map((watch) => watch.close()));
    this.#transport.client?.close();
  }

  /** Same as {@linkcode EtcdRegistry.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error(`Cannot use the etcd registry at ${this.address}: closed`);
  }

  /**
   * One unary call within `dialTimeoutMs`, with errors rewritten to
   * `Cannot <what> at etcd <address>: <reason>` (the original as `cause`).
   */
  async #call(what: string, path: string, body: unknown): Promise<_Json> {
    this.#checkOpen();
    try {
      return await this.#transport.call(path, body);
    } catch (error) {
      throw new Error(`Cannot ${what} at etcd ${this.address}: ${_reason(error)}`, {
        cause: error,
      });
    }
  }
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 1000;
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
class _EtcdWatch implements RegistryWatch {
  /** Resolves when etcd has created the watch the first time. */
  readonly created: Promise<void>;
  /** Resolves when the watch is closed (by the caller, or after a reset). */
  readonly closed: Promise<void>;
  readonly #transport: _Transport;
  readonly #range: { key: string; range_end: string };
  readonly #prefix: string;
  readonly #handlers: WatchHandlers;
  readonly #logger: Logger;
  #resolveCreated!: () => void;
  #markClosed!: () => void;
  #connection: _Connection | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #probe: ReturnType<typeof setTimeout> | undefined;
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
    transport: _Transport,
    prefix: string,
    fromRevision: bigint,
    handlers: WatchHandlers,
    logger: Logger,
  ) {
    this.#transport = transport;
    this.#prefix = prefix;
    this.#range = _prefixRange(prefix);
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
    clearTimeout(this.#probe);
    this.#probe = undefined;
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
    // Opening (connect, log in, response headers) is bounded; the body then lives on.
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
    if (!response.body) throw new _EtcdError(UNAVAILABLE, "etcd sent no watch stream");
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
      throw new _EtcdError(UNAVAILABLE, "Connection dropped: etcd ended the watch stream");
    }
  }

  /** After {@linkcode WATCH_PROBE_MS} of silence, checks with a `Status` call that etcd answers. */
  #armProbe(connection: _Connection): void {
    clearTimeout(this.#probe);
    this.#probe = setTimeout(async () => {
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
    let message: _Json;
    try {
      message = JSON.parse(line);
    } catch {
      this.#lost(connection, new _EtcdError(UNAVAILABLE, `Protocol error: ${line.slice(0, 200)}`));
      return;
    }
    const error = _errorOf(message);
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

  #onResponse(response: _Json): void {
    const header = BigInt(response.header?.revision ?? "0");
    const events: _Json[] = response.events ?? [];
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

  #deliver(events: _Json[]): void {
    for (const event of events) {
      const revision = BigInt(event.kv?.mod_revision ?? "0");
      // One revision's events come in one response, so `<=` drops only replays.
      if (revision <= this.#delivered) continue;
      const key = _unb64(event.kv?.key);
      const change: WatchEvent = event.type === "DELETE"
        ? { type: "delete", key, revision }
        : { type: "put", key, value: _unb64(event.kv?.value), revision };
      this.#call(() => this.#handlers.onEvent(change));
    }
    for (const event of events) {
      const revision = BigInt(event.kv?.mod_revision ?? "0");
      if (revision > this.#delivered) this.#delivered = revision;
    }
    if (this.#delivered + 1n > this.#next) this.#next = this.#delivered + 1n;
  }

  /** etcd cancelled the watch: a compacted start revision, or another server-side reason. */
  #onCancelled(response: _Json): void {
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
  #lost(connection: _Connection, error: unknown): void {
    if (connection !== this.#connection) return;
    this.lastError = error instanceof _EtcdError
      ? error
      : _isAbort(error)
      ? new _EtcdError(DEADLINE_EXCEEDED, `no answer within ${this.#transport.timeoutMs}ms`)
      : new _EtcdError(UNAVAILABLE, _networkReason(error), { cause: error });
    this.#connection = undefined;
    connection.controller.abort();
    clearTimeout(this.#probe);
    this.#probe = undefined;
    if (this.#closing || this.#timer !== undefined) return;
    if (this.#connected) {
      this.#connected = false;
      this.#logger.warn("etcd watch disconnected", {
        prefix: this.#prefix,
        error: _reason(this.lastError),
      });
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
