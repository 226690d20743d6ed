/**
 * The operations routes every Meshwork process answers, on the gateway and on a worker's status
 * port alike: `GET /live` (the process runs), `GET /ready` (200 or 503 `not_ready`),
 * `GET /health` (what `health()` reports, as JSON) and `GET /metrics` (Prometheus text). Any
 * other method on these paths gets a 405 with `Allow: GET, HEAD`.
 *
 * @example
 * ```ts
 * import { opsRoutes } from "./ops.ts";
 * const app = opsRoutes({
 *   ready: () => false,
 *   health: () => ({ instances: [] }),
 *   metrics: () => Promise.resolve({ contentType: "text/plain", body: "" }),
 * });
 * console.assert((await app.request("/ready")).status === 503);
 * ```
 *
 * @module
 */

import { Hono } from "hono";
import { jsonResponse, methodNotAllowed } from "../http/http_errors.ts";

/** The paths of the operations routes. */
export const OPS_PATHS: ReadonlySet<string> = new Set(["/live", "/ready", "/health", "/metrics"]);

/** The operations paths that stay open when API keys are set: probes and scrapers. */
export const OPEN_OPS_PATHS: ReadonlySet<string> = new Set(["/live", "/ready", "/metrics"]);

/** What the operations routes report. */
export interface OpsOptions {
  /** Whether `/ready` is 200. */
  ready(): boolean;
  /** The JSON body of `/health`. */
  health(): unknown | Promise<unknown>;
  /** The Prometheus text of `/metrics`. */
  metrics(): Promise<{ contentType: string; body: string }>;
}

const _GET_ONLY = ["GET", "HEAD"] as const;

/** The operations routes, to mount with `app.route("/", opsRoutes(...))`. */
export function opsRoutes(options: OpsOptions): Hono {
  const app = new Hono();
  app.get("/live", () => jsonResponse({ status: "live" }));
  app.get(
    "/ready",
    () =>
      options.ready()
        ? jsonResponse({ status: "ready" })
        : jsonResponse({ status: "not_ready" }, 503),
  );
  app.get("/health", async () => jsonResponse(await options.health()));
  app.get("/metrics", async () => {
    const { contentType, body } = await options.metrics();
    return new Response(body, { headers: { "content-type": contentType } });
  });
  for (const path of OPS_PATHS) {
    app.all(path, (c) => {
      throw methodNotAllowed(c.req.method, c.req.path, _GET_ONLY);
    });
  }
  return app;
}
