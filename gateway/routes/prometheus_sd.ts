/**
 * Prometheus HTTP service discovery (`http_sd_configs`) from the registry: `GET
 * /prometheus/targets` answers every live scrape target of the mesh (`runtime/scrape_targets.ts`)
 * as one target group each, so a Prometheus pointed at the gateway scrapes every process that
 * serves `/metrics` and picks up new ones at its next refresh, with no config change:
 *
 * ```json
 * [{"targets":["10.0.0.2:50000"],"labels":{"mesh_namespace":"hello_world","mesh_role":"worker","mesh_hostname":"node2"}}]
 * ```
 *
 * It is open like `/metrics` when API keys are set (`gateway/app.ts`). The registry is read once
 * per request (Prometheus asks every `refresh_interval`); it is not on the request path.
 *
 * @example
 * ```ts
 * import { prometheusSdRoutes } from "./prometheus_sd.ts";
 * const app = prometheusSdRoutes({
 *   targets: () =>
 *     Promise.resolve([{ address: "127.0.0.1:50000", role: "worker", hostname: "n1", pid: 1, namespace: "demo" }]),
 * });
 * const groups = await (await app.request("/prometheus/targets")).json();
 * console.assert(groups[0].targets[0] === "127.0.0.1:50000");
 * ```
 *
 * @module
 */

import { Hono } from "hono";
import type { ScrapeTarget } from "../../runtime/scrape_targets.ts";
import { jsonResponse, methodNotAllowed } from "../http/http_errors.ts";

/** The path Prometheus' `http_sd_configs` asks. */
export const PROMETHEUS_SD_PATH = "/prometheus/targets";

/** What the route lists. */
export interface PrometheusSdOptions {
  /** The live scrape targets (one registry read). */
  targets(): Promise<readonly ScrapeTarget[]>;
}

/** One target group of Prometheus' HTTP SD format. */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** The HTTP SD target groups of `targets`: one group per target, with its mesh labels. */
export function targetGroups(targets: readonly ScrapeTarget[]): TargetGroup[] {
  return targets.map((target) => ({
    targets: [target.address],
    labels: {
      mesh_namespace: target.namespace,
      mesh_role: target.role,
      mesh_hostname: target.hostname,
    },
  }));
}

/** The service-discovery route, to mount with `app.route("/", prometheusSdRoutes(...))`. */
export function prometheusSdRoutes(options: PrometheusSdOptions): Hono {
  const app = new Hono();
  app.get(PROMETHEUS_SD_PATH, async () => jsonResponse(targetGroups(await options.targets())));
  app.all(PROMETHEUS_SD_PATH, (c) => {
    throw methodNotAllowed(c.req.method, c.req.path, ["GET", "HEAD"]);
  });
  return app;
}
