/**
 * The first phase of loading a config (DESIGN.md §7): {@linkcode readConfigFile} /
 * {@linkcode parseConfigText} parse the YAML, keeping the line and column of every key and value,
 * and check the top-level keys (`namespace`, `graph`, `nats`, `etcd`, `log_level`,
 * `metrics_port_base`, `data_plane`, `telemetry`). Other
 * top-level keys are kept as raw component sections, which `resolveConfig` (resolve.ts) checks.
 *
 * @example
 * ```ts
 * import { parseConfigText } from "./yaml_document.ts";
 *
 * const doc = parseConfigText("namespace: demo\nWorker:\n  ServiceArgs:\n    workers: 2\n", "x.yaml");
 * console.log(doc.namespace, doc.sections.map((s) => s.key)); // demo [ "Worker" ]
 * ```
 *
 * @module
 */

import { dirname, isAbsolute, resolve } from "node:path";
import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { LogLevel } from "../utils/logger.ts";
import { ConfigError, type Position } from "./config_error.ts";
import { type ConfigEntry, type ConfigNode, describeNode, nodeString } from "./config_node.ts";
import { type EtcdConfig, type NatsConfig, readPlaneSection } from "./plane_settings.ts";
import { type DataPlaneConfig, readDataPlaneSection } from "./data_plane_settings.ts";
import { readTelemetrySection, type TelemetryConfig } from "./telemetry_settings.ts";

/** A parsed config file: checked top-level keys plus the raw component sections. */
export interface ConfigDocument {
  /** The file name as given, used in messages. */
  file: string;
  namespace?: string;
  /** The graph module as an absolute path (resolved against the file's directory) or a URL. */
  graph?: string;
  nats?: NatsConfig;
  etcd?: EtcdConfig;
  logLevel?: LogLevel;
  /**
   * `metrics_port_base`: the status (metrics) port of the first worker process `serve` starts;
   * the next ones get the following ports, in start order.
   */
  metricsPortBase?: number;
  /** The `data_plane:` section (data_plane_settings.ts). */
  dataPlane?: DataPlaneConfig;
  /** The `telemetry:` section (telemetry_settings.ts): present means a node agent runs. */
  telemetry?: TelemetryConfig;
  /** Every other top-level key, in file order; checked by `resolveConfig`. */
  sections: ConfigEntry[];
}

/** The top-level keys that are not component sections. */
export const TOP_LEVEL_KEYS = [
  "namespace",
  "graph",
  "nats",
  "etcd",
  "log_level",
  "metrics_port_base",
  "data_plane",
  "telemetry",
] as const;

/** A valid namespace or component name. */
export const NAME: RegExp = /^[A-Za-z0-9_-]+$/;

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Reads and parses a config file; a missing file is `Config file "x" not found`. */
export async function readConfigFile(path: string): Promise<ConfigDocument> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new ConfigError(`Config file ${JSON.stringify(path)} not found`, undefined, {
        cause: error,
      });
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`Cannot read config file ${JSON.stringify(path)}: ${reason}`, undefined, {
      cause: error,
    });
  }
  return parseConfigText(text, path);
}

/** Parses config text; `fileName` is used in messages and to resolve `graph`. Empty is valid. */
export function parseConfigText(text: string, fileName: string): ConfigDocument {
  const lineCounter = new LineCounter();
  const yaml = parseDocument(text, { lineCounter, prettyErrors: false });
  const at = (offset: number): Position => lineCounter.linePos(offset);
  const [problem] = yaml.errors;
  if (problem) throw new ConfigError(problem.message, { file: fileName, pos: at(problem.pos[0]) });
  const fail = (pos: Position, message: string) =>
    new ConfigError(message, { file: fileName, pos });

  const toNode = (node: unknown, fallback: Position): ConfigNode => {
    if (isAlias(node)) return toNode(node.resolve(yaml), at(node.range?.[0] ?? 0));
    const pos = (node as Node | null)?.range ? at((node as Node).range![0]) : fallback;
    if (isMap(node)) {
      return {
        kind: "map",
        pos,
        entries: node.items.map((pair) => {
          const keyPos = isScalar(pair.key) && pair.key.range ? at(pair.key.range[0]) : pos;
          if (!isScalar(pair.key)) throw fail(keyPos, "expected a plain key");
          return { key: String(pair.key.value), keyPos, value: toNode(pair.value, keyPos) };
        }),
      };
    }
    if (isSeq(node)) return { kind: "list", pos, items: node.items.map((i) => toNode(i, pos)) };
    const value = isScalar(node) ? node.value : null;
    const plain = value === null || ["string", "number", "boolean"].includes(typeof value);
    return {
      kind: "scalar",
      pos,
      value: plain ? value as string | number | boolean : String(value),
    };
  };

  const doc: ConfigDocument = { file: fileName, sections: [] };
  const root = toNode(yaml.contents, { line: 1, col: 1 });
  if (root.kind === "scalar" && root.value === null) return doc;
  if (root.kind !== "map") {
    throw fail(root.pos, `expected a mapping of top-level keys, got ${describeNode(root)}`);
  }
  for (const entry of root.entries) {
    const { key, value } = entry;
    if (key === "namespace") {
      const name = nodeString(fileName, key, value);
      if (!NAME.test(name)) {
        throw fail(
          value.pos,
          `namespace: invalid name "${name}"; use letters, digits, "_" and "-" only`,
        );
      }
      doc.namespace = name;
    } else if (key === "graph") {
      const graph = nodeString(fileName, key, value);
      const isUrl = /^[a-z][a-z0-9+.-]+:/i.test(graph);
      doc.graph = isUrl || isAbsolute(graph) ? graph : resolve(dirname(fileName), graph);
    } else if (key === "log_level") {
      const level = nodeString(fileName, key, value);
      if (!(LOG_LEVELS as readonly string[]).includes(level)) {
        throw fail(
          value.pos,
          `log_level: expected one of ${LOG_LEVELS.join(", ")}, got "${level}"`,
        );
      }
      doc.logLevel = level as LogLevel;
    } else if (key === "metrics_port_base") {
      const port = value.kind === "scalar" ? value.value : undefined;
      if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
        throw fail(
          value.pos,
          `metrics_port_base: expected an integer between 1 and 65535, got ${describeNode(value)}`,
        );
      }
      doc.metricsPortBase = port;
    } else if (key === "nats") {
      doc.nats = readPlaneSection(fileName, "nats", value);
    } else if (key === "etcd") {
      doc.etcd = readPlaneSection(fileName, "etcd", value);
    } else if (key === "data_plane") {
      doc.dataPlane = readDataPlaneSection(fileName, value);
    } else if (key === "telemetry") {
      doc.telemetry = readTelemetrySection(fileName, value);
    } else {
      doc.sections.push(entry);
    }
  }
  return doc;
}
