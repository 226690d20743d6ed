/**
 * The gateway's live page: `GET /dashboard` serves the page (`./dashboard/dashboard_page.ts`),
 * and `GET /dashboard/data` the JSON snapshot it polls every second (what `overview()` returns:
 * the runtime's `MeshOverview`, see `runtime/mesh_overview.ts`).
 *
 * With API keys set, `/dashboard/data` is guarded like every route (`Authorization: Bearer
 * <key>`). The page is left open by the API-key middleware and checks its own key here, from
 * `?key=<key>` (a browser cannot send a header when opening a URL) or the header; its script then
 * sends that key as the header.
 *
 * @example
 * ```ts
 * import { dashboardRoutes } from "./dashboard.ts";
 * const app = dashboardRoutes({ overview: () => Promise.resolve({ hosts: [] }), apiKeys: [] });
 * const page = await app.request("/dashboard");
 * console.assert(page.headers.get("content-type")!.startsWith("text/html"));
 * ```
 *
 * @module
 */

import { Hono } from "hono";
import { timingSafeEqual } from "node:crypto";
import { DASHBOARD_PAGE } from "./dashboard/dashboard_page.ts";
import { errorResponse, jsonResponse, unauthorized } from "../http/http_errors.ts";

/** The page's path: left open by the API-key middleware, it checks `?key=` itself. */
export const DASHBOARD_PAGE_PATH = "/dashboard";

/** The paths of the dashboard routes (polled every second: not counted as requests). */
export const DASHBOARD_PATHS: ReadonlySet<string> = new Set([
  DASHBOARD_PAGE_PATH,
  "/dashboard/data",
]);

/** What the dashboard routes need. */
export interface DashboardOptions {
  /** The JSON snapshot of `/dashboard/data`. */
  overview(): Promise<unknown>;
  /** The gateway's API keys; the page asks for one of them as `?key=` when any are set. */
  apiKeys: readonly string[];
}

const _encoder = new TextEncoder();

/** The dashboard routes, to mount with `app.route("/", dashboardRoutes(...))`. */
export function dashboardRoutes(options: DashboardOptions): Hono {
  const keys = options.apiKeys.filter(Boolean).map((key) => _encoder.encode(key));
  const app = new Hono();
  app.get(DASHBOARD_PAGE_PATH, (c) => {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (keys.length > 0 && !_known(c.req.query("key") ?? bearer, keys)) {
      return errorResponse(unauthorized(), { fields: { path: c.req.path } });
    }
    return c.html(DASHBOARD_PAGE, 200, {
      "cache-control": "no-store",
      "content-security-policy":
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; " +
        "connect-src 'self'; img-src 'self' data:",
    });
  });
  app.get(
    "/dashboard/data",
    async () => jsonResponse(await options.overview(), 200, { "cache-control": "no-store" }),
  );
  return app;
}

/** Whether `given` is one of the keys (compared in constant time). */
function _known(given: string | undefined, keys: readonly Uint8Array[]): boolean {
  if (!given) return false;
  const bytes = _encoder.encode(given);
  let ok = false;
  for (const key of keys) {
    if (key.length === bytes.length && timingSafeEqual(key, bytes)) ok = true;
  }
  return ok;
}
