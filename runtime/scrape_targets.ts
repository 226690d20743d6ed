/**
 * Prometheus scrape targets in the registry: every process that serves `/metrics` registers
 * `mesh/<ns>/metrics/<host:port>` = {@linkcode ScrapeTarget} under its process lease
 * ({@linkcode registerScrapeTarget}), so the lease keeper registers it again after a lost lease
 * and it goes with the process. The gateway's Prometheus HTTP service discovery
 * (`gateway/routes/prometheus_sd.ts`) lists them ({@linkcode listScrapeTargets}).
 *
 * One process registers its mesh metrics once — on the gateway's port when it has a gateway, else
 * on its status port — so no series is scraped twice; the node agent's port is a target of its
 * own (`role: "telemetry"`).
 *
 * @example
 * ```ts ignore
 * await registerScrapeTarget(runtime, { role: "worker", port: 50000, listenHost: "0.0.0.0" });
 * console.log(await listScrapeTargets(runtime.registry, runtime.namespace));
 * // [{ address: "10.0.0.2:50000", role: "worker", hostname: "node2", pid: 4242, namespace: "hello_world" }]
 * ```
 *
 * @module
 */

import type { Registry } from "../planes/registry.ts";
import { advertisedHost, formatHostPort } from "../planes/tcp/address.ts";
import type { Runtime } from "./runtime.ts";

/** What serves the metrics at a target. */
export type ScrapeRole = "gateway" | "worker" | "telemetry";

/** One `/metrics` endpoint, as registered. */
export interface ScrapeTarget {
  /** `host:port` Prometheus scrapes. */
  address: string;
  role: ScrapeRole;
  hostname: string;
  pid: number;
  namespace: string;
}

/** Where a process's metrics port is, for {@linkcode registerScrapeTarget}. */
export interface MetricsEndpoint {
  role: ScrapeRole;
  /** The bound port. */
  port: number;
  /** The address it listens on (`0.0.0.0`: every interface). */
  listenHost: string;
  /**
   * The host to name (`MESH_METRICS_ADVERTISE`, `telemetry.advertise`). Default: `listenHost`, or
   * the machine's first non-loopback IPv4 when that is every interface.
   */
  advertise?: string;
}

/** The registry prefix of a namespace's scrape targets: `mesh/<ns>/metrics/`. */
export function metricsPrefix(namespace: string): string {
  return `mesh/${namespace}/metrics/`;
}

/** Registers one metrics endpoint of this process under its lease; returns the target. */
export async function registerScrapeTarget(
  runtime: Runtime,
  endpoint: MetricsEndpoint,
): Promise<ScrapeTarget> {
  const host = advertisedHost(endpoint.listenHost, endpoint.advertise);
  const target: ScrapeTarget = {
    address: formatHostPort(host, endpoint.port),
    role: endpoint.role,
    hostname: runtime.hostname,
    pid: runtime.pid,
    namespace: runtime.namespace,
  };
  await runtime.keeper.register(
    `${metricsPrefix(runtime.namespace)}${target.address}`,
    JSON.stringify(target),
  );
  return target;
}

/** The scrape targets registered in `namespace`, in key order; unreadable values are skipped. */
export async function listScrapeTargets(
  registry: Registry,
  namespace: string,
): Promise<ScrapeTarget[]> {
  const { kvs } = await registry.getPrefix(metricsPrefix(namespace));
  const targets: ScrapeTarget[] = [];
  for (const { value } of kvs) {
    try {
      const target = JSON.parse(value) as ScrapeTarget;
      if (typeof target?.address === "string" && typeof target.role === "string") {
        targets.push(target);
      }
    } catch {
      // not ours
    }
  }
  return targets;
}
