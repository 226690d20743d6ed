/**
 * What the gateway app is built from: {@linkcode GatewayOptions} as callers give them, their
 * defaults, and {@linkcode resolveGatewayOptions}, which checks the numbers and fills in the
 * defaults once so the routes and middleware read plain values.
 *
 * @module
 */

import type { Registry } from "prom-client";
import { type Clock, systemClock } from "../utils/clock.ts";
import { type Logger, silentLogger } from "../utils/logger.ts";
import type { GenerateContext, GenerateRouteOptions } from "./routes/generate.ts";
import type { ScrapeTarget } from "../runtime/scrape_targets.ts";

export type { GenerateContext } from "./routes/generate.ts";

/** Options for `createGatewayApp()` (see `./app.ts`). */
export interface GatewayOptions {
  /**
   * Runs the fronted endpoint. Throws MeshError (bad_request, no_instances, ...) before or
   * during the stream.
   */
  generate(body: unknown, ctx: GenerateContext): AsyncIterable<unknown>;
  /** Instances etc. for /health. */
  health(): unknown | Promise<unknown>;
  /** Whether /ready is 200. */
  ready(): boolean;
  /**
   * Prometheus text for /metrics. Default: prom-client's default registry merged with
   * `metricsRegistry`. A custom function replaces both; render `metricsRegistry` in it to keep
   * the gateway's own metrics.
   */
  metrics?(): Promise<{ contentType: string; body: string }>;
  /** Largest accepted request body, from `Content-Length` and while reading. Default: 1 MiB. */
  maxBodyBytes?: number;
  /**
   * Bearer keys: when any are given, every route (today `/generate` and `/health`) answers 401
   * without `Authorization: Bearer <one of them>`; `/live`, `/ready` and `/metrics` stay open for
   * probes and scrapers, and an unknown path still gets its 404. Default: none (no
   * authentication).
   */
  apiKeys?: readonly string[];
  /**
   * Time the client has to send its whole body (slow-loris guard): 408 after. Default:
   * 10 000 ms.
   */
  bodyTimeoutMs?: number;
  /** Time from arrival to the deadline. Default: 60 000 ms. */
  requestTimeoutMs?: number;
  /** `Retry-After` on 503 answers, in seconds. Default: 1. */
  retryAfterSeconds?: number;
  /** Where the per-request lines (`debug`, or `warn` on failure) go. Default: silent. */
  logger?: Logger;
  /** Makes a request id when the client gives none. Default: `crypto.randomUUID()`. */
  newRequestId?(): string;
  /**
   * Where `mesh_gateway_requests_total{status}` and `mesh_gateway_request_duration_seconds`
   * live. Default: a fresh registry owned by this app (so several apps in one process do not
   * collide). Apps given the same registry share the metrics.
   */
  metricsRegistry?: Registry;
  /** The clock for the request deadline and the body time-out. Default: the system clock. */
  clock?: Clock;
  /**
   * The mesh's live scrape targets: with it, `GET /prometheus/targets` serves Prometheus HTTP
   * service discovery (see `./routes/prometheus_sd.ts`), open like `/metrics`. Default: no route.
   */
  scrapeTargets?(): Promise<readonly ScrapeTarget[]>;
  /**
   * The JSON snapshot behind the live page: with it, `GET /dashboard` serves the page and
   * `GET /dashboard/data` this snapshot (see `./routes/dashboard.ts`). With `apiKeys` set, open
   * the page as `/dashboard?key=<key>`; its script sends the key as the bearer header. Default:
   * no dashboard.
   */
  overview?(): Promise<unknown>;
}

/** The default for {@linkcode GatewayOptions.bodyTimeoutMs}. */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;
/** The default for {@linkcode GatewayOptions.maxBodyBytes}. */
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;
/** The default for {@linkcode GatewayOptions.requestTimeoutMs}. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** {@linkcode GatewayOptions} with every default filled in and every number checked. */
export interface ResolvedGatewayOptions extends GenerateRouteOptions {
  health: GatewayOptions["health"];
  ready: GatewayOptions["ready"];
  metrics?: GatewayOptions["metrics"];
  apiKeys: readonly string[];
  overview?: GatewayOptions["overview"];
}

/**
 * Fills in the defaults of `options` and checks its numbers: a negative or non-finite one throws
 * a `RangeError` naming the option. The metrics registry is left to the caller.
 */
export function resolveGatewayOptions(options: GatewayOptions): ResolvedGatewayOptions {
  return {
    generate: (body, ctx) => options.generate(body, ctx),
    health: () => options.health(),
    ready: () => options.ready(),
    metrics: options.metrics && (() => options.metrics!()),
    overview: options.overview && (() => options.overview!()),
    maxBodyBytes: _nonNegative("maxBodyBytes", options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES),
    bodyTimeoutMs: _nonNegative("bodyTimeoutMs", options.bodyTimeoutMs, DEFAULT_BODY_TIMEOUT_MS),
    requestTimeoutMs: _nonNegative(
      "requestTimeoutMs",
      options.requestTimeoutMs,
      DEFAULT_REQUEST_TIMEOUT_MS,
    ),
    retryAfterSeconds: _nonNegative("retryAfterSeconds", options.retryAfterSeconds, 1),
    apiKeys: options.apiKeys ?? [],
    logger: options.logger ?? silentLogger,
    newRequestId: options.newRequestId ? () => options.newRequestId!() : () => crypto.randomUUID(),
    clock: options.clock ?? systemClock,
  };
}

function _nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`Gateway option "${name}" must be a non-negative number, got ${value}`);
  }
  return value;
}
