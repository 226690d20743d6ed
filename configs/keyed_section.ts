/**
 * A top-level config section that is a mapping of known keys (`data_plane:`, `telemetry:`): each
 * key names its field and how its value is read, and a mistake names the file, line and key.
 * The readers for the common kinds of value (a number in a range, a host name) live here too.
 *
 * @example
 * ```ts
 * import type { ConfigNode } from "./config_node.ts";
 * import { numberIn, readKeyedSection } from "./keyed_section.ts";
 *
 * const pos = { line: 1, col: 1 };
 * const node: ConfigNode = {
 *   kind: "map",
 *   pos,
 *   entries: [{ key: "port", keyPos: pos, value: { kind: "scalar", value: 80, pos } }],
 * };
 * const keys = { port: { field: "port", read: numberIn(0, 65535, true) } };
 * console.log(readKeyedSection("x.yaml", "demo", node, keys)); // { port: 80 }
 * ```
 *
 * @module
 */

import { ConfigError } from "./config_error.ts";
import { type ConfigNode, describeNode } from "./config_node.ts";

/** Reads one value; `what` is its dotted name for messages (`telemetry.port`). */
export type ValueReader = (file: string, what: string, node: ConfigNode) => string | number;

/** A section's keys: YAML key → the field it fills and how its value is read. */
export type SectionKeys<F extends string> = Readonly<
  Record<string, { field: F; read: ValueReader }>
>;

/**
 * Reads the section `name` of config file `file` into an object of fields; an empty section
 * (`name:` with nothing) keeps every default when `emptyOk`.
 */
export function readKeyedSection<F extends string>(
  file: string,
  name: string,
  node: ConfigNode,
  keys: SectionKeys<F>,
  emptyOk = false,
): Partial<Record<F, string | number>> {
  if (emptyOk && node.kind === "scalar" && node.value === null) return {};
  if (node.kind !== "map") {
    throw new ConfigError(
      `${name}: expected a mapping of ${Object.keys(keys).join(", ")}, got ${describeNode(node)}`,
      { file, pos: node.pos },
    );
  }
  const config: Partial<Record<F, string | number>> = {};
  for (const entry of node.entries) {
    const key = Object.hasOwn(keys, entry.key) ? keys[entry.key] : undefined;
    if (!key) {
      throw new ConfigError(
        `unknown key "${name}.${entry.key}"; expected one of ${Object.keys(keys).join(", ")}`,
        { file, pos: entry.keyPos },
      );
    }
    config[key.field] = key.read(file, `${name}.${entry.key}`, entry.value);
  }
  return config;
}

/** A number between `min` and `max` (an integer when `whole`). */
export function numberIn(min: number, max: number, whole: boolean): ValueReader {
  return (file, what, node) => {
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
  };
}

/** A host name or IP address (a non-empty string with no spaces). */
export const hostName: ValueReader = (file, what, node) => {
  const value = node.kind === "scalar" ? node.value : undefined;
  if (typeof value !== "string" || value === "" || /\s/.test(value)) {
    throw new ConfigError(
      `${what}: expected a host name or IP address, got ${describeNode(node)}`,
      { file, pos: node.pos },
    );
  }
  return value;
};
