/**
 * The status port of a process without a gateway (a worker): `/live`, `/ready`, `/health` and
 * `/metrics`, so every process of a cluster can be probed and scraped.
 *
 * @module
 */

import { Hono } from "hono";
import { register as defaultRegistry, Registry } from "prom-client";
import { errorResponse, jsonResponse, unknownPath } from "./http_errors.ts";
import { type GatewayServer, serveGateway } from "./server.ts";

/** What the status port reports. */
export interface StatusOptions {
  port: number;
  hostname?: string;
  ready(): boolean;
  health(): unknown;
  registry: Registry;
}

/** Serves the status endpoints. */
export function serveStatus(options: StatusOptions): GatewayServer {
  const app = new Hono();
  app.get("/live", () => jsonResponse({ status: "live" }));
  app.get(
    "/ready",
    () =>
      options.ready()
        ? jsonResponse({ status: "ready" })
        : jsonResponse({ status: "not_ready" }, 503),
  );
  app.get("/health", () => jsonResponse(options.health()));
  app.get("/metrics", async () => {
    const merged = Registry.merge([defaultRegistry, options.registry]);
    return new Response(await merged.metrics(), {
      headers: { "content-type": merged.contentType },
    });
  });
  app.notFound((c) => errorResponse(unknownPath(c.req.method, c.req.path)));
  return serveGateway(app, { port: options.port, hostname: options.hostname ?? "0.0.0.0" });
}
