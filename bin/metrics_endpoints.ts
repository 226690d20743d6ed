/**
 * The metrics endpoints of a `serve` process, put on a started mesh: the node telemetry agent
 * ({@linkcode startNodeAgent}: `runtime/node_telemetry.ts` on a status port of its own, when the
 * config has `telemetry:`), and the scrape targets every Prometheus finds through the gateway's
 * service discovery ({@linkcode registerMetricsEndpoints}, `runtime/scrape_targets.ts`).
 *
 * @module
 */

import { Registry } from "prom-client";
import { DEFAULT_TELEMETRY_PORT, type TelemetryConfig } from "../configs/telemetry_settings.ts";
import type { GatewayServer } from "../gateway/server.ts";
import { serveStatus } from "../gateway/status_server.ts";
import { missingSysPermissions } from "../runtime/node_samplers.ts";
import { startNodeTelemetry } from "../runtime/node_telemetry.ts";
import { registerScrapeTarget, type ScrapeTarget } from "../runtime/scrape_targets.ts";
import type { Mesh } from "../runtime/start_mesh.ts";

/** What a runtime offers for `mesh_queue_depth` (feature-detected: `Runtime.queueDepths`). */
interface _QueueDepths {
  queueDepths?: () => Promise<ReadonlyMap<string, number>>;
}

/**
 * Starts the node agent: samples the machine every `telemetry.every_s` and serves `/live`,
 * `/ready`, `/health` and `/metrics` on `telemetry.port`; both stop with the mesh.
 */
export async function startNodeAgent(
  mesh: Mesh,
  telemetry: TelemetryConfig,
): Promise<GatewayServer> {
  const registry = new Registry();
  const runtime = mesh.runtime as Mesh["runtime"] & _QueueDepths;
  const hostname = runtime.hostname;
  const missing = missingSysPermissions();
  if (missing.length) {
    mesh.log.warn(
      "The node telemetry agent cannot read load, CPU or memory: their metrics stay absent; " +
        `run serve with --allow-sys=hostname,networkInterfaces,${missing.join(",")}`,
      { missing },
    );
  }
  const sampler = await startNodeTelemetry({
    registry,
    hostname,
    everyMs: (telemetry.everyS ?? 1) * 1000,
    queueDepths: runtime.queueDepths && (() => runtime.queueDepths!()),
    logger: mesh.log.child({ component: "telemetry" }),
  });
  const port = telemetry.port ?? DEFAULT_TELEMETRY_PORT;
  let server: GatewayServer;
  try {
    server = serveStatus({
      port,
      hostname: telemetry.host,
      ready: () => true,
      health: () => ({ status: "ok", role: "telemetry", hostname }),
      registry,
    });
  } catch (error) {
    await sampler.stop();
    if ((error as Error).cause instanceof Deno.errors.AddrInUse) {
      throw new Error(
        `Port ${port} is already in use (node telemetry agent); choose another with ` +
          "telemetry.port (0: a free one)",
        { cause: error },
      );
    }
    throw error;
  }
  mesh.attach({
    async shutdown() {
      await sampler.stop();
      await server.shutdown();
    },
  });
  return server;
}

/** The metrics ports of one process, as {@linkcode registerMetricsEndpoints} takes them. */
export interface MetricsServers {
  gateway?: GatewayServer;
  status?: GatewayServer;
  telemetry?: GatewayServer;
  /** `MESH_METRICS_ADVERTISE` / `telemetry.advertise`. */
  advertise?: string;
}

/**
 * Registers this process's scrape targets under its lease: the mesh metrics once (the gateway's
 * port, else the status port, which serve the same registry) and the node agent's port.
 */
export async function registerMetricsEndpoints(
  mesh: Mesh,
  servers: MetricsServers,
): Promise<ScrapeTarget[]> {
  const { advertise } = servers;
  const endpoints = [
    servers.gateway
      ? { role: "gateway" as const, server: servers.gateway }
      : servers.status && { role: "worker" as const, server: servers.status },
    servers.telemetry && { role: "telemetry" as const, server: servers.telemetry },
  ];
  const targets: ScrapeTarget[] = [];
  for (const endpoint of endpoints) {
    if (!endpoint) continue;
    const { port, hostname: listenHost } = endpoint.server;
    targets.push(
      await registerScrapeTarget(mesh.runtime, {
        role: endpoint.role,
        port,
        listenHost,
        advertise,
      }),
    );
  }
  return targets;
}
