/**
 * Bearer-key authentication, one middleware for the whole app: attached once with
 * `app.use("*", ...)`, it guards every route except the paths named open, so a new route is
 * guarded without anyone remembering to. A path no route serves is let through, so it still
 * gets its 404.
 *
 * Keys are compared in constant time. Without keys the middleware lets everything through.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { apiKeys } from "./api_keys.ts";
 * const app = new Hono();
 * app.use("*", apiKeys({ keys: ["k1"], open: new Set(["/live"]) }));
 * app.get("/live", (c) => c.text("live"));
 * app.get("/secret", (c) => c.text("secret"));
 * console.assert((await app.request("/live")).status === 200);
 * console.assert((await app.request("/secret")).status === 401);
 * const ok = await app.request("/secret", { headers: { authorization: "Bearer k1" } });
 * console.assert(ok.status === 200);
 * ```
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { routePath } from "hono/route";
import { timingSafeEqual } from "node:crypto";
import { errorResponse, unauthorized } from "../http/http_errors.ts";

/** Options for {@linkcode apiKeys}. */
export interface ApiKeysOptions {
  /** The accepted keys; empty strings are ignored. None: no authentication. */
  keys: readonly string[];
  /** Paths that stay open (probes, scrapes). */
  open: ReadonlySet<string>;
}

const _encoder = new TextEncoder();

/**
 * The middleware: a request to a guarded route without `Authorization: Bearer <one of the
 * keys>` gets the 401 of `unauthorized()` (with `WWW-Authenticate`), whatever its method.
 */
export function apiKeys(options: ApiKeysOptions): MiddlewareHandler {
  const keys = options.keys.filter(Boolean).map((key) => _encoder.encode(key));
  return createMiddleware(async (c, next) => {
    if (
      keys.length > 0 && !options.open.has(c.req.path) && _routed(c) &&
      !_authorized(c.req.header("authorization"), keys)
    ) {
      return errorResponse(unauthorized(), { fields: { path: c.req.path } });
    }
    await next();
  });
}

/** Whether a route (not only the `*` middleware) matched the request. */
function _routed(c: Parameters<typeof routePath>[0]): boolean {
  const path = routePath(c, -1);
  return path !== "*" && path !== "/*";
}

/** Whether an `Authorization` header carries one of the keys (compared in constant time). */
function _authorized(header: string | undefined, keys: readonly Uint8Array[]): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!match) return false;
  const given = _encoder.encode(match[1]!);
  let ok = false;
  for (const key of keys) {
    if (key.length === given.length && timingSafeEqual(key, given)) ok = true;
  }
  return ok;
}
