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

import { ConfigError } from "./config_error.ts";
import { type ConfigNode, describeNode } from "./config_node.ts";
import { type Environment, envValue } from "./environment.ts";

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

type _Reader = (file: string, what: string, node: ConfigNode) => string | number;

/** Each key: its field and how its value is read. */
const _KEYS: Readonly<Record<string, { field: keyof TelemetryConfig; read: _Reader }>> = {
  port: { field: "port", read: (f, w, n) => _number(f, w, n, 0, 65535, true) },
  host: { field: "host", read: (f, w, n) => _hostName(f, w, n) },
  every_s: { field: "everyS", read: (f, w, n) => _number(f, w, n, 0.05, 3600, false) },
  advertise: { field: "advertise", read: (f, w, n) => _hostName(f, w, n) },
};

/** Reads the `telemetry:` section of config file `file`; `telemetry: {}` keeps every default. */
export function readTelemetrySection(file: string, node: ConfigNode): TelemetryConfig {
  if (node.kind === "scalar" && node.value === null) return {};
  if (node.kind !== "map") {
    throw new ConfigError(
      `telemetry: expected a mapping of ${Object.keys(_KEYS).join(", ")}, got ${
        describeNode(node)
      }`,
      { file, pos: node.pos },
    );
  }
  const config: Record<string, unknown> = {};
  for (const entry of node.entries) {
    const key = Object.hasOwn(_KEYS, entry.key) ? _KEYS[entry.key] : undefined;
    if (!key) {
      throw new ConfigError(
        `unknown key "telemetry.${entry.key}"; expected one of ${Object.keys(_KEYS).join(", ")}`,
        { file, pos: entry.keyPos },
      );
    }
    config[key.field] = key.read(file, `telemetry.${entry.key}`, entry.value);
  }
  return config as TelemetryConfig;
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

function _number(
  file: string,
  what: string,
  node: ConfigNode,
  min: number,
  max: number,
  whole: boolean,
): number {
  const value = node.kind === "scalar" ? node.value : undefined;
  const ok = typeof value === "number" && value >= min && value <= max &&
    (!whole || Number.isInteger(value));
  if (!ok) {
    const kind = whole ? "an integer" : "a number";
    throw new ConfigError(
      `${what}: expected ${kind} between ${min} and ${max}, got ${describeNode(node)}`,
      { file, pos: node.pos },
    );
  }
  return value;
}

function _hostName(file: string, what: string, node: ConfigNode): string {
  const value = node.kind === "scalar" ? node.value : undefined;
  if (typeof value !== "string" || value === "" || /\s/.test(value)) {
    throw new ConfigError(
      `${what}: expected a host name or IP address, got ${describeNode(node)}`,
      { file, pos: node.pos },
    );
  }
  return value;
}
