/**
 * The HTTP transport of the etcd registry: requests to etcd's HTTP/JSON gateway (`/v3/...`,
 * etcd ≥ 3.4) with Deno's `fetch`, failing over between endpoints, bounded by a deadline, with
 * etcd's authentication (a token from `/v3/auth/authenticate` in the `Authorization` header) and
 * TLS (a `Deno.createHttpClient` with the CA, and the client certificate and key).
 *
 * @module
 */

import { readTlsFiles, type TlsFiles } from "../../utils/pem.ts";
import {
  DEADLINE_EXCEEDED,
  errorOf,
  EtcdAuthenticationError,
  EtcdError,
  isAbort,
  networkReason,
  TOKEN_REJECTED,
  UNAUTHENTICATED,
  UNAVAILABLE,
} from "./errors.ts";
import type { Json } from "./wire.ts";

/**
 * etcd's details for a member that cannot serve a call for now, while the cluster elects a
 * leader or the member catches up: the call is tried again on another endpoint.
 */
const RETRY_ELSEWHERE =
  /leader changed|no leader|request timed out|server stopped|too many requests|unhealthy cluster/;
/** The pause before a call goes to another member after such an answer. */
const RETRY_PAUSE_MS = 50;
/** The shortest time one attempt of a call gets before the next endpoint is tried. */
const MIN_ATTEMPT_MS = 250;

/** Resolves after `ms`, or at once when `signal` aborts. */
function _pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * An HTTP client for TLS connections to etcd, with the certificates and key from `files` (read
 * now; every failure names the file).
 */
export function createTlsClient(files: TlsFiles): Deno.HttpClient {
  const pem = readTlsFiles(files, "etcd");
  const options: Deno.CreateHttpClientOptions = {};
  if (pem.ca !== undefined) options.caCerts = [pem.ca];
  if (pem.cert !== undefined && pem.key !== undefined) {
    Object.assign(options, { cert: pem.cert, key: pem.key });
  }
  return Deno.createHttpClient(options);
}

/**
 * Where a request goes, and how: the registry's shared transport. Every request is a `POST` of
 * JSON to one of the endpoints (failing over to the next when one cannot be reached), with the
 * auth token when there is a user (logging in first, and again when etcd rejects the token).
 */
export class Transport {
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
   * (body unread) or throws an {@linkcode EtcdError}.
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
    if (signal.aborted && (last === undefined || isAbort(last))) {
      throw new EtcdError(DEADLINE_EXCEEDED, `no answer within ${this.timeoutMs}ms`);
    }
    throw new EtcdError(UNAVAILABLE, networkReason(last), { cause: last });
  }

  /**
   * One unary call: JSON in, JSON out, within `timeoutMs` (default: the transport's), with the
   * token when there is a user. A member that cannot serve the call for now (a leader election:
   * `leader changed`, `no leader`, `request timed out`) or that does not answer within half the
   * time is left for the next endpoint, after a short pause, until the deadline: a killed leader
   * costs a call the election, not the whole deadline.
   */
  async call(path: string, body: unknown, timeoutMs = this.timeoutMs): Promise<Json> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const attemptMs = Math.max(MIN_ATTEMPT_MS, Math.ceil(timeoutMs / 2));
    try {
      for (let attempt = 0;; attempt++) {
        const token = await this.token(controller.signal);
        const late = new AbortController();
        const lateTimer = setTimeout(() => late.abort(), attemptMs);
        const signal = AbortSignal.any([controller.signal, late.signal]);
        let json: Json;
        try {
          json = await this.#unary(path, body, signal, token);
        } catch (error) {
          if (controller.signal.aborted || !late.signal.aborted) throw error;
          this.#failover(); // this member did not answer in time: try another one
          continue;
        } finally {
          clearTimeout(lateTimer);
        }
        const error = errorOf(json);
        if (error && token !== undefined && attempt === 0 && TOKEN_REJECTED.test(error.detail)) {
          this.invalidate(token);
          continue;
        }
        if (error && RETRY_ELSEWHERE.test(error.detail) && !controller.signal.aborted) {
          this.#failover();
          await _pause(RETRY_PAUSE_MS, controller.signal);
          if (!controller.signal.aborted) continue;
        }
        if (error) throw error;
        return json;
      }
    } catch (error) {
      const timedOut = !(error instanceof EtcdError) || error.code === DEADLINE_EXCEEDED;
      if (controller.signal.aborted && timedOut) {
        throw new EtcdError(DEADLINE_EXCEEDED, `no answer within ${timeoutMs}ms`, {
          cause: error,
        });
      }
      if (error instanceof EtcdError) throw error;
      throw new EtcdError(UNAVAILABLE, networkReason(error), { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The next call starts at the next endpoint. */
  #failover(): void {
    this.#preferred = (this.#preferred + 1) % this.endpoints.length;
  }

  async #unary(path: string, body: unknown, signal: AbortSignal, token?: string): Promise<Json> {
    const response = await this.open(path, body, signal, token);
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      if (/CommonName of client sending a request against gateway/.test(text)) {
        throw new EtcdError(
          UNAUTHENTICATED,
          `etcd refused the request: ${text.trim()} (with --client-cert-auth and ` +
            "authentication on, etcd's HTTP gateway refuses any client certificate that has a " +
            "Common Name: use a client certificate without a CN, and ETCD_USERNAME and " +
            "ETCD_PASSWORD)",
        );
      }
      throw new EtcdError(
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
    const error = errorOf(json);
    if (error) {
      throw error.code === UNAVAILABLE || error.code === DEADLINE_EXCEEDED
        ? error
        : new EtcdAuthenticationError(error.code, error.detail);
    }
    if (typeof json?.token !== "string") {
      throw new EtcdAuthenticationError(2, "etcd gave no auth token");
    }
    return json.token;
  }
}
