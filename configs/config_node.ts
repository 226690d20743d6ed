/**
 * A parsed YAML value with its position ({@linkcode ConfigNode}), and the small readers the
 * config layer shares: a mapping's entries, a string, the plain JS value, and how a value reads in
 * a message.
 *
 * @example
 * ```ts
 * import { describeNode, type ConfigNode } from "./config_node.ts";
 *
 * const node: ConfigNode = { kind: "scalar", value: "two", pos: { line: 4, col: 12 } };
 * console.log(describeNode(node)); // "two"
 * ```
 *
 * @module
 */

import { ConfigError, type Position } from "./config_error.ts";

/** A parsed YAML value with its position: a scalar, a mapping or a list. */
export type ConfigNode =
  | { kind: "scalar"; value: string | number | boolean | null; pos: Position }
  | { kind: "map"; entries: ConfigEntry[]; pos: Position }
  | { kind: "list"; items: ConfigNode[]; pos: Position };

/** One `key: value` pair of a mapping, with the key's position. */
export interface ConfigEntry {
  key: string;
  keyPos: Position;
  value: ConfigNode;
}

/** The entries of a mapping node, or an error naming `what`. */
export function nodeEntries(file: string, what: string, node: ConfigNode): ConfigEntry[] {
  if (node.kind === "map") return node.entries;
  throw new ConfigError(`${what}: expected a mapping, got ${describeNode(node)}`, {
    file,
    pos: node.pos,
  });
}

/** A string scalar, or an error naming `key`. */
export function nodeString(file: string, key: string, node: ConfigNode): string {
  if (node.kind === "scalar" && typeof node.value === "string") return node.value;
  throw new ConfigError(`${key}: expected a string, got ${describeNode(node)}`, {
    file,
    pos: node.pos,
  });
}

/** The plain JS value of a node (for schema checks). */
export function plainValue(node: ConfigNode): unknown {
  if (node.kind === "scalar") return node.value;
  if (node.kind === "list") return node.items.map(plainValue);
  return Object.fromEntries(node.entries.map((e) => [e.key, plainValue(e.value)]));
}

/** How a value reads in a message: `"two"`, `3`, `null`, `["a",1]`, `a mapping`. */
export function describeNode(node: ConfigNode): string {
  if (node.kind === "map") return "a mapping";
  if (node.kind === "scalar" && typeof node.value === "number") return String(node.value);
  const text = JSON.stringify(plainValue(node));
  return node.kind === "list" && text.length > 40 ? "a list" : text;
}

/** `record[key]` for own keys only, so `constructor` or `toString` is never a config key. */
export function ownValue<T>(
  record: Readonly<Record<string, T>> | undefined,
  key: string,
): T | undefined {
  return record && Object.hasOwn(record, key) ? record[key] : undefined;
}
