/**
 * The second phase of loading a config (DESIGN.md §7): {@linkcode resolveConfig} checks each
 * component section of a parsed file against its component's schema, applies the
 * `--Component.key=value` overrides and the `NATS_*` / `ETCD_*` environment, and fills the
 * defaults. Every problem is a `ConfigError` whose message starts with `file:line:col:` when the
 * file is to blame.
 *
 * @example
 * ```ts
 * import { parseConfigText } from "./yaml_document.ts";
 * import { resolveConfig } from "./resolve.ts";
 * import { defineSchema, integer } from "../actors/config_schema.ts";
 *
 * const doc = parseConfigText("Frontend:\n  port: 8000\n", "mesh.yaml");
 * const config = resolveConfig(doc, { Frontend: defineSchema({ port: integer({ default: 80 }) }) }, {
 *   overrides: ["--Frontend.port=9000"],
 *   env: { NATS_SERVER: "nats://a:4222", ETCD_ENDPOINTS: "http://b:2379" },
 * });
 * console.log(config.components.Frontend!.values.port, config.nats); // 9000 { servers: [ "nats://a:4222" ] }
 * ```
 *
 * @module
 */

import type { ConfigSchema } from "../actors/config_schema.ts";
import type { LogLevel } from "../utils/logger.ts";
import { ConfigError } from "./config_error.ts";
import type { ConfigEntry } from "./config_node.ts";
import { readComponentSection, type ResolvedComponent } from "./component_section.ts";
import { type Environment, envValue } from "./environment.ts";
import { applyOverride } from "./overrides.ts";
import { type EtcdConfig, type NatsConfig, resolvePlane } from "./plane_settings.ts";
import { type DataPlaneConfig, resolveDataPlane } from "./data_plane_settings.ts";
import { resolveMetricsAdvertise, type TelemetryConfig } from "./telemetry_settings.ts";
import { type ConfigDocument, NAME, TOP_LEVEL_KEYS } from "./yaml_document.ts";

/** The config after schemas, overrides, environment and defaults are applied. */
export interface ResolvedConfig {
  file?: string;
  /** Defaults to `"meshwork"`. */
  namespace: string;
  graph?: string;
  nats?: NatsConfig;
  etcd?: EtcdConfig;
  logLevel?: LogLevel;
  /** The file's `metrics_port_base` (status ports of worker processes, in start order). */
  metricsPortBase?: number;
  /**
   * The `data_plane:` section after `MESH_DATA_SECRET` and `MESH_DATA_ADVERTISE`; absent when
   * nothing sets it (every default applies).
   */
  dataPlane?: DataPlaneConfig;
  /** The `telemetry:` section; absent when the file has none (no node agent runs). */
  telemetry?: TelemetryConfig;
  /** Host the scrape targets name: `MESH_METRICS_ADVERTISE`, else `telemetry.advertise`. */
  metricsAdvertise?: string;
  components: Record<string, ResolvedComponent>;
}

/** Options of {@linkcode resolveConfig}. */
export interface ResolveOptions {
  /** Dynamo-style overrides: `--Processor.router=random`, `--Worker.ServiceArgs.workers=3`. */
  overrides?: string[];
  /**
   * Environment; `NATS_SERVER` and `ETCD_ENDPOINTS` (comma-separated) beat the file, and so do
   * the variables of `NATS_ENV` and `ETCD_ENV` (plane_settings.ts), one key at a time. An empty
   * variable counts as unset.
   */
  env?: Environment;
}

/**
 * Checks the component sections of `doc` against `components` (name → schema), applies the
 * overrides and environment, and fills defaults. Every component in `components` gets an entry.
 */
export function resolveConfig(
  doc: ConfigDocument,
  components: Record<string, ConfigSchema>,
  options: ResolveOptions = {},
): ResolvedConfig {
  const { file } = doc;
  const sections = _sectionsByName(doc, components);
  const resolved: Record<string, ResolvedComponent> = {};
  for (const [name, schema] of Object.entries(components)) {
    resolved[name] = readComponentSection(file, name, schema, sections.get(name));
  }
  for (const override of options.overrides ?? []) applyOverride(override, components, resolved);
  for (const [name, schema] of Object.entries(components)) {
    const values = resolved[name]!.values;
    for (const [key, field] of Object.entries(schema.fields)) {
      if (values[key] !== undefined) continue;
      values[key] = Array.isArray(field.default) ? [...field.default] : field.default;
    }
  }

  const config: ResolvedConfig = {
    file,
    namespace: doc.namespace ?? "meshwork",
    components: resolved,
  };
  if (doc.graph !== undefined) config.graph = doc.graph;
  if (doc.logLevel !== undefined) config.logLevel = doc.logLevel;
  if (doc.metricsPortBase !== undefined) config.metricsPortBase = doc.metricsPortBase;
  const env = options.env ?? {};
  const nats = resolvePlane(file, "nats", doc.nats, env);
  if (nats) config.nats = nats;
  const etcd = resolvePlane(file, "etcd", doc.etcd, env);
  if (etcd) config.etcd = etcd;
  const dataPlane = resolveDataPlane(doc.dataPlane, env);
  if (dataPlane) config.dataPlane = dataPlane;
  if (doc.telemetry) {
    const port = envValue(env, "MESH_TELEMETRY_PORT");
    config.telemetry = port === undefined ? doc.telemetry : { ...doc.telemetry, port };
  }
  const metricsAdvertise = resolveMetricsAdvertise(doc.telemetry, env);
  if (metricsAdvertise !== undefined) config.metricsAdvertise = metricsAdvertise;
  return config;
}

/** The file's component sections by name; a name that is no component is an error. */
function _sectionsByName(
  doc: ConfigDocument,
  components: Record<string, ConfigSchema>,
): Map<string, ConfigEntry> {
  const names = Object.keys(components);
  for (const name of names) {
    if (!NAME.test(name) || (TOP_LEVEL_KEYS as readonly string[]).includes(name)) {
      throw new TypeError(`Invalid component name ${JSON.stringify(name)}`);
    }
  }
  const sections = new Map<string, ConfigEntry>();
  for (const entry of doc.sections) {
    if (!Object.hasOwn(components, entry.key)) {
      const allowed = [...TOP_LEVEL_KEYS, ...names].join(", ");
      throw new ConfigError(`unknown key "${entry.key}"; expected one of ${allowed}`, {
        file: doc.file,
        pos: entry.keyPos,
      });
    }
    sections.set(entry.key, entry);
  }
  return sections;
}
