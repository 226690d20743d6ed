/**
 * The gateway's own Prometheus metrics, `mesh_gateway_requests_total{status}` and
 * `mesh_gateway_request_duration_seconds`, and the text `/metrics` serves by default.
 *
 * @module
 */

import { Counter, register as defaultRegistry, Registry } from "prom-client";
import { CheapHistogram } from "../../utils/cheap_histogram.ts";

/** Histogram buckets of the request duration, in seconds. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** The gateway's metrics, as registered in one registry. */
export interface GatewayMetrics {
  /** Requests by response status (probes and scrapes excluded). */
  requests: Counter<"status">;
  /** Time from arrival to the last byte of the answer. */
  duration: CheapHistogram;
}

/**
 * The gateway's metrics in `registry`, registered on first use: apps given the same registry
 * share them.
 */
export function gatewayMetrics(registry: Registry): GatewayMetrics {
  const requests = (registry.getSingleMetric("mesh_gateway_requests_total") ??
    new Counter({
      name: "mesh_gateway_requests_total",
      help: "Gateway HTTP requests (probes and scrapes excluded), by response status",
      labelNames: ["status"],
      registers: [registry],
    })) as Counter<"status">;
  const duration = (registry.getSingleMetric("mesh_gateway_request_duration_seconds") ??
    new CheapHistogram({
      name: "mesh_gateway_request_duration_seconds",
      help: "Gateway HTTP request time from arrival to the last byte of the answer",
      buckets: DURATION_BUCKETS,
      registers: [registry],
    })) as unknown as CheapHistogram;
  return { requests, duration };
}

/** Prometheus text of prom-client's default registry merged with `registry`. */
export async function renderMetrics(
  registry: Registry,
): Promise<{ contentType: string; body: string }> {
  const merged = registry === defaultRegistry
    ? registry
    : Registry.merge([defaultRegistry, registry]);
  return { contentType: merged.contentType, body: await merged.metrics() };
}
