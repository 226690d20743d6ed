/**
 * The node telemetry agent's settings: the config's top-level `telemetry:` section
 * ({@linkcode readTelemetrySection}), and the host Prometheus reaches this process's metrics
 * ports at ({@linkcode resolveMetricsAdvertise}: `MESH_METRICS_ADVERTISE` beats
 * `telemetry.advertise`).
 *
 * ```yaml
 * telemetry:
 *   port: 9400          # the agent's /metrics port; 0: a free one
 *   host: 0.0.0.0       # interface it listens on
 *   every_s: 1          # sampling period
 *   advertise: 10.0.0.2 # host the registry's scrape targets name (every metrics port of the process)
 * ```
 *
 * Without the section no agent runs; the scrape targets are registered either way. A mistake
 * names the file, line and key.
 *
 * @example
 * ```ts
 * import { parseConfigText } from "./yaml_document.ts";
 * import { resolveMetricsAdvertise } from "./telemetry_settings.ts";
 *
 * const doc = parseConfigText("telemetry:\n  port: 9400\n", "x.yaml");
 * console.log(doc.telemetry); // { port: 9400 }
 * console.log(resolveMetricsAdvertise(doc.telemetry, { MESH_METRICS_ADVERTISE: "10.0.0.2" })); // "10.0.0.2"
 * ```
 *
 * @module
 */

import type { ConfigNode } from "./config_node.ts";
import { type Environment, envValue } from "./environment.ts";
import { hostName, numberIn, readKeyedSection, type ValueReader } from "./keyed_section.ts";

/** The `telemetry:` section (unset keys: defaults). */
export interface TelemetryConfig {
  /** Port of the agent's `/metrics`; 0: a free one. Default 9400. */
  port?: number;
  /** Interface the agent listens on. Default `0.0.0.0`. */
  host?: string;
  /** Seconds between two samples. Default 1. */
  everyS?: number;
  /**
   * Host the scrape targets of this process name. Default: the listening host, or the machine's
   * first non-loopback IPv4 when that is every interface.
   */
  advertise?: string;
}

/** The agent's port when `telemetry.port` is not set. */
export const DEFAULT_TELEMETRY_PORT = 9400;

/** Each key: its field and how its value is read. */
const _KEYS: Readonly<Record<string, { field: keyof TelemetryConfig; read: ValueReader }>> = {
  port: { field: "port", read: numberIn(0, 65535, true) },
  host: { field: "host", read: hostName },
  every_s: { field: "everyS", read: numberIn(0.05, 3600, false) },
  advertise: { field: "advertise", read: hostName },
};

/** Reads the `telemetry:` section of config file `file`; `telemetry: {}` keeps every default. */
export function readTelemetrySection(file: string, node: ConfigNode): TelemetryConfig {
  return readKeyedSection(file, "telemetry", node, _KEYS, true) as TelemetryConfig;
}

/**
 * The host this process's scrape targets name: `MESH_METRICS_ADVERTISE`, else
 * `telemetry.advertise`, else `undefined` (the listening host, or the first non-loopback IPv4).
 */
export function resolveMetricsAdvertise(
  fromFile: TelemetryConfig | undefined,
  env: Environment,
): string | undefined {
  return envValue(env, "MESH_METRICS_ADVERTISE") ?? fromFile?.advertise;
}
