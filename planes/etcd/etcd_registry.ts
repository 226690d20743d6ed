/**
 * The cluster discovery plane: a {@linkcode Registry} on etcd v3, through etcd's HTTP/JSON
 * gateway (`/v3/...`, etcd ≥ 3.4) with Deno's `fetch`. No gRPC and no `node:http2`: Deno's
 * `node:http2` crashes the whole process when etcd stops gracefully and sends an HTTP/2 GOAWAY
 * (denoland/deno#36788), while `fetch` (hyper) turns any connection trouble into an error.
 *
 * Every call is bounded by `dialTimeoutMs`, so a down etcd makes calls throw instead of hang.
 * `keepAlive` tells the two failures apart: it resolves `false` when etcd says the lease is gone
 * and throws when etcd cannot be reached. Calls fail over to the next endpoint when one cannot be
 * reached, does not answer in time, or is between leaders (`transport.ts`); a renewal is bounded
 * by half its lease's TTL. Errors from etcd read as gRPC statuses
 * (`7 PERMISSION_DENIED: etcdserver: ...`, `errors.ts`), since the gateway passes them on as
 * `{code, message}`.
 *
 * Security: a user name and password (etcd's authentication: `/v3/auth/authenticate` gives a
 * token, sent in the `Authorization` header and renewed when etcd rejects it), and TLS with a CA
 * file and, for etcd's `--client-cert-auth`, a client certificate and key (a
 * `Deno.createHttpClient`). With TLS the endpoints are `https://`. The files are read when the
 * registry is made, so a missing or unreadable one is an error naming it. etcd's gateway ignores
 * a client certificate's CN as a user name (it is a proxy inside etcd), so with authentication on
 * a user name and password are needed even with a client certificate.
 *
 * Watches are long-lived `POST /v3/watch` responses (`watch.ts`), reconnected after a backoff on
 * the injected clock.
 *
 * @module
 */

import { createLogger, type Logger } from "../../utils/logger.ts";
import { type Clock, systemClock } from "../../utils/clock.ts";
import { type Random, systemRandom } from "../../utils/random.ts";
import type { TlsFiles } from "../../utils/pem.ts";
import type {
  LeaseId,
  PrefixSnapshot,
  Registry,
  RegistryWatch,
  WatchHandlers,
} from "../registry.ts";
import { parseEtcdEndpoints } from "./endpoints.ts";
import { EtcdAuthenticationError, EtcdError, LEASE_NOT_FOUND, reasonOf } from "./errors.ts";
import { createTlsClient, Transport } from "./transport.ts";
import { EtcdWatch } from "./watch.ts";
import { b64text, type Json, prefixRange, unb64 } from "./wire.ts";

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
  tls?: TlsFiles;
  /** How long one call (connect, read, write, renew) may take before it fails. Default: 5000. */
  dialTimeoutMs?: number;
  /** Where watch disconnects and reconnects are logged. Default: a logger on standard error. */
  logger?: Logger;
  /**
   * Drives the watches' reconnect delays and the probes of quiet watches. Default:
   * {@linkcode systemClock}. Call deadlines (`dialTimeoutMs`) are I/O timeouts and run on real
   * time.
   */
  clock?: Clock;
  /** The jitter of the watches' reconnect delays. Default: {@linkcode systemRandom}. */
  random?: Random;
}

/** A key of the mesh's own prefix: reading it checks that the credentials allow reads there. */
const ACCESS_CHECK_KEY = "mesh/";

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

  readonly #transport: Transport;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  readonly #watches = new Set<EtcdWatch>();
  readonly #tls: TlsFiles | undefined;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #username: string | undefined;
  /** The TTL of each lease this client granted, in ms: it bounds that lease's renewals. */
  readonly #ttls = new Map<LeaseId, number>();
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
    const client = options.tls ? createTlsClient(options.tls) : undefined;
    this.#tls = options.tls;
    this.#username = options.username;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#transport = new Transport(
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
        key: b64text(ACCESS_CHECK_KEY),
        limit: "1",
        keys_only: true,
      });
    } catch (error) {
      const reason = reasonOf(error);
      if (error instanceof EtcdAuthenticationError) {
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
    const lease = String(response.ID);
    this.#ttls.set(lease, Math.ceil(ttlSeconds) * 1000);
    return lease;
  }

  /**
   * How long one renewal of `lease` may take: half its TTL (at most `dialTimeoutMs`, at least
   * 500 ms). A renewal that waits on a dead leader for the whole call timeout could outlast the
   * lease; bounded, it fails in time for the lease keeper to try again (on another member).
   */
  #renewTimeout(lease: LeaseId): number {
    const ttl = this.#ttls.get(lease);
    return ttl === undefined ? this.#timeoutMs : Math.min(this.#timeoutMs, Math.max(500, ttl / 2));
  }

  async keepAlive(lease: LeaseId): Promise<boolean> {
    this.#checkOpen();
    const what = `renew lease "${lease}"`;
    let response: Json;
    try {
      // The gateway answers one keep-alive request with one `{"result": ...}` and ends the body.
      response = await this.#transport.call(
        "/v3/lease/keepalive",
        { ID: lease },
        this.#renewTimeout(lease),
      );
    } catch (error) {
      if (error instanceof EtcdError && LEASE_NOT_FOUND.test(error.detail)) {
        this.#ttls.delete(lease);
        return false;
      }
      throw new Error(`Cannot ${what} at etcd ${this.address}: ${reasonOf(error)}`, {
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
    this.#ttls.delete(lease);
    try {
      await this.#call(`revoke lease "${lease}"`, "/v3/lease/revoke", { ID: lease });
    } catch (error) {
      const cause = (error as Error).cause;
      if (cause instanceof EtcdError && LEASE_NOT_FOUND.test(cause.detail)) return;
      throw error;
    }
  }

  async put(key: string, value: string, lease?: LeaseId): Promise<void> {
    const request: Record<string, string> = { key: b64text(key), value: b64text(value) };
    if (lease !== undefined) request.lease = lease;
    try {
      await this.#call(`put "${key}"`, "/v3/kv/put", request);
    } catch (error) {
      const cause = (error as Error).cause;
      if (cause instanceof EtcdError && LEASE_NOT_FOUND.test(cause.detail)) {
        throw new Error(`Cannot put "${key}": lease "${lease}" not found`, { cause });
      }
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.#call(`delete "${key}"`, "/v3/kv/deleterange", { key: b64text(key) });
  }

  async getPrefix(prefix: string): Promise<PrefixSnapshot> {
    const response = await this.#call(
      `read prefix "${prefix}"`,
      "/v3/kv/range",
      prefixRange(prefix),
    );
    const kvs = ((response.kvs ?? []) as Json[]).map((kv) => ({
      key: unb64(kv.key),
      value: unb64(kv.value),
    }));
    return { kvs, revision: BigInt(response.header?.revision ?? "0") };
  }

  async watchPrefix(
    prefix: string,
    fromRevision: bigint,
    handlers: WatchHandlers,
  ): Promise<RegistryWatch> {
    this.#checkOpen();
    const watch = new EtcdWatch(this.#transport, prefix, fromRevision, handlers, {
      logger: this.#logger,
      clock: this.#clock,
      random: this.#random,
    });
    this.#watches.add(watch);
    watch.closed.then(() => this.#watches.delete(watch));
    // The creation deadline is an I/O timeout on real time (a stopped clock must not hang it).
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
      throw new Error(`Cannot watch "${prefix}" at etcd ${this.address}: ${reasonOf(cause)}`, {
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
  async #call(what: string, path: string, body: unknown): Promise<Json> {
    this.#checkOpen();
    try {
      return await this.#transport.call(path, body);
    } catch (error) {
      throw new Error(`Cannot ${what} at etcd ${this.address}: ${reasonOf(error)}`, {
        cause: error,
      });
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
