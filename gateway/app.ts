/**
 * The HTTP gateway (the seeds' Frontend): a Hono app that fronts one streaming endpoint at
 * `POST /generate` and answers `/live`, `/ready`, `/health` and `/metrics`.
 *
 * The app is assembled here, Hono-style: the middleware is attached once with `app.use` (the
 * request log, then the API keys, which guard every route but the open probes), then the routes
 * are mounted, one file each: `./routes/generate.ts`, `./routes/ops.ts` and, when an `overview`
 * is given, the live page `./routes/dashboard.ts` (`/dashboard`). The answer's form
 * follows `Accept` (see `./routes/generate/response_modes.ts`).
 *
 * The gateway waits for the first chunk (or the first error) before it sends the status, so an
 * error raised before any output gets its own status (400, 503 with `Retry-After`, 504...). After
 * that, each chunk goes to the client as soon as it is produced, and a failure becomes a final
 * error line (`{"error":{...}}`) or SSE `error` event on a 200 response.
 *
 * A client that goes away, a cancelled body stream or the request deadline aborts the
 * `AbortSignal` handed to `generate()` and calls `return()` on its iterator. The client's
 * disconnect is watched from the moment a step of the answer has waited
 * `CLIENT_WATCH_AFTER_MS` (50 ms; see `./routes/generate/generate_run.ts`).
 *
 * @example
 * ```ts
 * import { createGatewayApp } from "./app.ts";
 * const app = createGatewayApp({
 *   async *generate(body) {
 *     yield `${(body as { prompt: string }).prompt}_GeneratedBy_example`;
 *   },
 *   health: () => ({ instances: [] }),
 *   ready: () => true,
 * });
 * const res = await app.request("/generate", { method: "POST", body: '{"prompt":"hi"}' });
 * console.assert((await res.text()) === "hi_GeneratedBy_example\n");
 * ```
 *
 * @module
 */

import { Hono } from "hono";
import { Registry } from "prom-client";
import { gatewayMetrics, renderMetrics } from "./http/gateway_metrics.ts";
import { errorResponse, unknownPath } from "./http/http_errors.ts";
import { apiKeys } from "./middleware/api_keys.ts";
import { requestLog } from "./middleware/request_log.ts";
import { type GatewayOptions, resolveGatewayOptions } from "./options.ts";
import { generateRoutes } from "./routes/generate.ts";
import { OPEN_OPS_PATHS, OPS_PATHS, opsRoutes } from "./routes/ops.ts";
import { PROMETHEUS_SD_PATH, prometheusSdRoutes } from "./routes/prometheus_sd.ts";
import { DASHBOARD_PAGE_PATH, DASHBOARD_PATHS, dashboardRoutes } from "./routes/dashboard.ts";

export {
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type GatewayOptions,
  type GenerateContext,
} from "./options.ts";
export { type ResponseMode, responseModeOf } from "./routes/generate/response_modes.ts";

/**
 * Creates the gateway app. It holds no sockets: serve it with `serveGateway()` from
 * `./server.ts`, or call `app.request()` in tests.
 */
export function createGatewayApp(options: GatewayOptions): Hono {
  const resolved = resolveGatewayOptions(options);
  const { logger, retryAfterSeconds } = resolved;
  const registry = options.metricsRegistry ?? new Registry();
  const app = new Hono();

  const probePaths = new Set([...OPS_PATHS, ...DASHBOARD_PATHS, PROMETHEUS_SD_PATH]);
  app.use("*", requestLog({ logger, metrics: gatewayMetrics(registry), probePaths }));
  if (resolved.apiKeys.length) {
    // The dashboard page checks its own `?key=` (a browser opening a URL sends no header).
    const open = new Set([...OPEN_OPS_PATHS, DASHBOARD_PAGE_PATH, PROMETHEUS_SD_PATH]);
    app.use("*", apiKeys({ keys: resolved.apiKeys, open }));
  }
  app.onError((error, c) =>
    errorResponse(error, {
      retryAfterSeconds,
      logger,
      fields: { method: c.req.method, path: c.req.path },
    })
  );
  app.notFound((c) => errorResponse(unknownPath(c.req.method, c.req.path)));

  app.route("/", generateRoutes(resolved));
  app.route(
    "/",
    opsRoutes({
      ready: resolved.ready,
      health: resolved.health,
      metrics: resolved.metrics ?? (() => renderMetrics(registry)),
    }),
  );
  if (resolved.overview) {
    app.route("/", dashboardRoutes({ overview: resolved.overview, apiKeys: resolved.apiKeys }));
  }
  if (options.scrapeTargets) {
    // Prometheus HTTP service discovery, open like /metrics.
    app.route("/", prometheusSdRoutes({ targets: () => options.scrapeTargets!() }));
  }
  return app;
}
