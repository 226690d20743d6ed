/**
 * Dynamo-style command-line overrides of a config: `--Processor.router=random`,
 * `--Worker.ServiceArgs.workers=3`. Each is checked against the component's schema (or
 * `ServiceArgs`) and parsed from text as the field's type says.
 *
 * @example
 * ```ts
 * import { applyOverride } from "./overrides.ts";
 * import { defineSchema, string } from "../actors/config_schema.ts";
 * import { defaultServiceArgs } from "./service_args.ts";
 *
 * const components = { Processor: defineSchema({ router: string({ default: "round_robin" }) }) };
 * const resolved = {
 *   Processor: { values: {}, workers: 1, maxInflight: 0, serviceArgs: defaultServiceArgs() },
 * };
 * applyOverride("--Processor.router=random", components, resolved);
 * console.log(resolved.Processor.values); // { router: "random" }
 * ```
 *
 * @module
 */

import { type ConfigSchema, describeField, parseText } from "../actors/config_schema.ts";
import { ConfigError } from "./config_error.ts";
import { ownValue } from "./config_node.ts";
import { type ResolvedComponent, setServiceArg } from "./component_section.ts";
import { SERVICE_ARGS } from "./service_args.ts";

/** Applies one `--Component.key=value` override to `resolved`. */
export function applyOverride(
  text: string,
  components: Record<string, ConfigSchema>,
  resolved: Record<string, ResolvedComponent>,
): void {
  const match = /^--([^.=]+)\.([^=]+)=(.*)$/s.exec(text);
  if (!match) {
    throw new ConfigError(`${text}: expected an override like --Component.key=value`);
  }
  const [, name = "", path = "", raw = ""] = match;
  const schema = ownValue(components, name);
  const target = ownValue(resolved, name);
  if (!schema || !target) {
    const allowed = Object.keys(components).join(", ");
    throw new ConfigError(`${text}: unknown component "${name}"; expected one of ${allowed}`);
  }
  const argPath = path.startsWith("ServiceArgs.") ? path.slice("ServiceArgs.".length) : undefined;
  const argKey = argPath === undefined
    ? undefined
    : ownValue(SERVICE_ARGS.keyAliases, argPath) ?? argPath;
  const key = argKey ?? ownValue(schema.keyAliases, path) ?? path;
  const field = argKey !== undefined
    ? ownValue(SERVICE_ARGS.fields, argKey)
    : ownValue(schema.fields, key);
  if (!field) {
    const allowed = [
      ...Object.keys(schema.fields),
      ...Object.keys(SERVICE_ARGS.fields).map((k) => `ServiceArgs.${k}`),
    ].join(", ");
    throw new ConfigError(`${text}: unknown key "${name}.${path}"; expected one of ${allowed}`);
  }
  const checked = parseText(field, raw);
  if (!checked.ok) {
    throw new ConfigError(`${text}: expected ${describeField(field)}, got ${JSON.stringify(raw)}`);
  }
  if (argKey !== undefined) setServiceArg(target, argKey, checked.value);
  else target.values[key] = checked.value;
}
