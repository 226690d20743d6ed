/**
 * The status port of a process without a gateway (a worker): `/live`, `/ready`, `/health` and
 * `/metrics`, the same operations routes as the gateway's (`./routes/ops.ts`), so every process
 * of a cluster can be probed and scraped.
 *
 * @module
 */

import { Hono } from "hono";
import type { Registry } from "prom-client";
import { renderMetrics } from "./http/gateway_metrics.ts";
import { errorResponse, unknownPath } from "./http/http_errors.ts";
import { opsRoutes } from "./routes/ops.ts";
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
  app.onError((error) => errorResponse(error));
  app.notFound((c) => errorResponse(unknownPath(c.req.method, c.req.path)));
  app.route(
    "/",
    opsRoutes({
      ready: () => options.ready(),
      health: () => options.health(),
      metrics: () => renderMetrics(options.registry),
    }),
  );
  return serveGateway(app, { port: options.port, hostname: options.hostname ?? "0.0.0.0" });
}
