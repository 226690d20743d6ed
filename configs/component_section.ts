/**
 * One component's section of a config file, checked against the component's schema and
 * `ServiceArgs` ({@linkcode readComponentSection}), and the filled result
 * ({@linkcode ResolvedComponent}) that overrides and defaults complete.
 *
 * @example
 * ```ts
 * import { readComponentSection } from "./component_section.ts";
 * import { parseConfigText } from "./yaml_document.ts";
 * import { defineSchema, string } from "../actors/config_schema.ts";
 *
 * const doc = parseConfigText("Processor:\n  router: random\n", "mesh.yaml");
 * const schema = defineSchema({ router: string({ default: "round_robin" }) });
 * const section = readComponentSection("mesh.yaml", "Processor", schema, doc.sections[0]);
 * console.log(section.values.router); // "random"
 * ```
 *
 * @module
 */

import { checkValue, type ConfigSchema } from "../actors/config_schema.ts";
import { ConfigError } from "./config_error.ts";
import {
  type ConfigEntry,
  describeNode,
  nodeEntries,
  ownValue,
  plainValue,
} from "./config_node.ts";
import { defaultServiceArgs, SERVICE_ARGS, type ServiceArgs } from "./service_args.ts";

/** The filled config of one component. */
export interface ResolvedComponent {
  /** Every schema field: file value, else override, else default (canonical keys and values). */
  values: Record<string, unknown>;
  /** `ServiceArgs.workers` (default 1). */
  workers: number;
  /** `ServiceArgs.max_inflight` (default 0: no limit; the seeds' `max_inflight_requests`). */
  maxInflight: number;
  /** Every `ServiceArgs` key, defaults filled (restart settings among them). */
  serviceArgs: ServiceArgs;
}

/** Sets one `ServiceArgs` key of `target` (and its `workers` / `maxInflight` shortcut). */
export function setServiceArg(target: ResolvedComponent, key: string, value: unknown): void {
  (target.serviceArgs as Record<string, unknown>)[key] = value;
  if (key === "workers") target.workers = value as number;
  if (key === "max_inflight") target.maxInflight = value as number;
}

/** Checks one component section; an absent or empty (`Worker:`) section is fine. */
export function readComponentSection(
  file: string,
  name: string,
  schema: ConfigSchema,
  entry: ConfigEntry | undefined,
): ResolvedComponent {
  const result: ResolvedComponent = {
    values: {},
    workers: 1,
    maxInflight: 0,
    serviceArgs: defaultServiceArgs(),
  };
  if (!entry || (entry.value.kind === "scalar" && entry.value.value === null)) return result;
  const section = nodeEntries(file, name, entry.value);
  const seen = new Map<string, string>();
  for (const { key, keyPos, value } of section) {
    const where = { file, pos: keyPos };
    if (key === "ServiceArgs") {
      if (value.kind === "scalar" && value.value === null) continue;
      _readServiceArgs(file, name, value, result);
      continue;
    }
    // Read by `deno task deploy k8s` (kubernetes_settings.ts); nothing to do at run time.
    if (key === "kubernetes") continue;
    const canonical = ownValue(schema.keyAliases, key) ?? key;
    const field = ownValue(schema.fields, canonical);
    if (!field) {
      const allowed = [...Object.keys(schema.fields), "ServiceArgs"].join(", ");
      throw new ConfigError(`unknown key "${name}.${key}"; expected one of ${allowed}`, where);
    }
    const previous = seen.get(canonical);
    if (previous !== undefined) {
      const alias = previous === canonical ? key : previous;
      throw new ConfigError(
        `${name}: "${alias}" is another name for "${canonical}", which is also set; keep one`,
        where,
      );
    }
    seen.set(canonical, key);
    const checked = checkValue(field, plainValue(value));
    if (!checked.ok) {
      throw new ConfigError(
        `${name}.${canonical}: expected ${checked.expected}, got ${describeNode(value)}`,
        { file, pos: value.pos },
      );
    }
    result.values[canonical] = checked.value;
  }
  return result;
}

/** Checks `Component.ServiceArgs` and sets its keys on `result`. */
function _readServiceArgs(
  file: string,
  name: string,
  node: ConfigEntry["value"],
  result: ResolvedComponent,
): void {
  const seenArgs = new Set<string>();
  for (const arg of nodeEntries(file, `${name}.ServiceArgs`, node)) {
    const argKey = ownValue(SERVICE_ARGS.keyAliases, arg.key) ?? arg.key;
    const field = ownValue(SERVICE_ARGS.fields, argKey);
    if (!field) {
      throw new ConfigError(
        `unknown key "${name}.ServiceArgs.${arg.key}"; expected one of ${
          Object.keys(SERVICE_ARGS.fields).join(", ")
        }`,
        { file, pos: arg.keyPos },
      );
    }
    if (seenArgs.has(argKey)) {
      throw new ConfigError(
        `${name}.ServiceArgs: "${arg.key}" sets "${argKey}" a second time; keep one`,
        { file, pos: arg.keyPos },
      );
    }
    seenArgs.add(argKey);
    const checked = checkValue(field, plainValue(arg.value));
    if (!checked.ok) {
      throw new ConfigError(
        `${name}.ServiceArgs.${argKey}: expected ${checked.expected}, got ${
          describeNode(arg.value)
        }`,
        { file, pos: arg.value.pos },
      );
    }
    setServiceArg(result, argKey, checked.value);
  }
}
