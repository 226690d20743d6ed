/**
 * A tiny declarative schema for one component's section of a deployment config (DESIGN.md §7).
 *
 * A component author lists the keys its section may hold, with their types, defaults and limits;
 * the loader (`configs/`) checks a YAML section and `--Component.key=value` overrides
 * against it and fills in the defaults. `ServiceArgs` is common to every component and handled by
 * the loader, so a schema never declares it.
 *
 * @example
 * ```ts
 * import { defineSchema, integer, string, type ConfigValues } from "./config_schema.ts";
 *
 * const processorSchema = defineSchema({
 *   router: string({
 *     default: "round_robin",
 *     enum: ["random", "round_robin"],
 *     aliases: { "round-robin": "round_robin" },
 *   }),
 *   min_workers: integer({ default: 1, min: 0 }),
 * }, { min_worker: "min_workers" });
 *
 * type ProcessorConfig = ConfigValues<typeof processorSchema>;
 * // { router: "random" | "round_robin"; min_workers: number }
 * ```
 *
 * @module
 */

/** A string key, optionally limited to `enum`; `aliases` maps accepted spellings to canonical values. */
export interface StringField {
  kind: "string";
  default?: string;
  enum?: readonly string[];
  aliases?: Readonly<Record<string, string>>;
  doc?: string;
}

/** An integer key, optionally bounded by `min` and `max` (inclusive). */
export interface IntegerField {
  kind: "integer";
  default?: number;
  min?: number;
  max?: number;
  doc?: string;
}

/** A finite number key, optionally bounded by `min` and `max` (inclusive). */
export interface NumberField {
  kind: "number";
  default?: number;
  min?: number;
  max?: number;
  doc?: string;
}

/** A boolean key (`true` / `false`). */
export interface BooleanField {
  kind: "boolean";
  default?: boolean;
  doc?: string;
}

/** A list of strings, written as a YAML list or a comma-separated string. */
export interface StringListField {
  kind: "string_list";
  default?: readonly string[];
  doc?: string;
}

/** Any field of a schema. */
export type FieldSpec = StringField | IntegerField | NumberField | BooleanField | StringListField;

/** A component's config schema: its fields and the accepted alternative key spellings. */
export interface ConfigSchema<F extends Record<string, FieldSpec> = Record<string, FieldSpec>> {
  fields: F;
  /** Alternative key → canonical key, e.g. `{ min_worker: "min_workers" }`. */
  keyAliases?: Readonly<Record<string, string>>;
}

/** The TypeScript type of one field's value: an `enum` string field gives a union of literals. */
export type FieldValue<F> = F extends { kind: "string" }
  ? F extends { enum: readonly (infer E)[] } ? E : string
  : F extends { kind: "integer" | "number" } ? number
  : F extends { kind: "boolean" } ? boolean
  : F extends { kind: "string_list" } ? string[]
  : never;

/** The type of a filled section: fields with a default are always set, others may be `undefined`. */
export type ConfigValues<S extends ConfigSchema> = {
  [K in keyof S["fields"]]: S["fields"][K] extends { default: unknown } ? FieldValue<S["fields"][K]>
    : FieldValue<S["fields"][K]> | undefined;
};

type Options<F> = Omit<F, "kind">;

/** A string field. */
export function string<const O extends Options<StringField>>(options?: O): StringField & O {
  return { kind: "string", ...options } as StringField & O;
}

/** An integer field. */
export function integer<const O extends Options<IntegerField>>(options?: O): IntegerField & O {
  return { kind: "integer", ...options } as IntegerField & O;
}

/** A number field. */
export function number<const O extends Options<NumberField>>(options?: O): NumberField & O {
  return { kind: "number", ...options } as NumberField & O;
}

/** A boolean field. */
export function boolean<const O extends Options<BooleanField>>(options?: O): BooleanField & O {
  return { kind: "boolean", ...options } as BooleanField & O;
}

/** A string-list field (YAML list or comma-separated string). */
export function stringList<const O extends Options<StringListField>>(
  options?: O,
): StringListField & O {
  return { kind: "string_list", ...options } as StringListField & O;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * Builds a schema, checking it at once: keys are plain names, `ServiceArgs` is reserved, key
 * aliases point at declared fields, and every default passes its own field's checks. A bad schema
 * is a programming error and throws a `TypeError`.
 */
export function defineSchema<const F extends Record<string, FieldSpec>>(
  fields: F,
  keyAliases?: Readonly<Record<string, keyof F & string>>,
): ConfigSchema<F> {
  for (const [key, field] of Object.entries(fields)) {
    if (!KEY.test(key) || key === "ServiceArgs") {
      throw new TypeError(`Invalid config field name ${JSON.stringify(key)}`);
    }
    if (field.default !== undefined) {
      const checked = checkValue(field, field.default);
      if (!checked.ok) {
        throw new TypeError(
          `Invalid default for config field ${JSON.stringify(key)}: expected ${checked.expected}`,
        );
      }
    }
  }
  for (const [alias, target] of Object.entries(keyAliases ?? {})) {
    if (Object.hasOwn(fields, alias) || !Object.hasOwn(fields, target)) {
      throw new TypeError(
        `Invalid key alias ${JSON.stringify(alias)} → ${JSON.stringify(target)}`,
      );
    }
  }
  return keyAliases ? { fields, keyAliases } : { fields };
}

/** The outcome of checking a value: the converted value, or what was expected instead. */
export type FieldCheck = { ok: true; value: unknown } | { ok: false; expected: string };

/** Describes what a field accepts, for messages: `an integer >= 0`, `one of "a", "b"`. */
export function describeField(field: FieldSpec): string {
  switch (field.kind) {
    case "string":
      return field.enum
        ? `one of ${field.enum.map((v) => JSON.stringify(v)).join(", ")}`
        : "a string";
    case "integer":
    case "number":
      return `${field.kind === "integer" ? "an integer" : "a number"}${_bounds(field)}`;
    case "boolean":
      return "a boolean (true or false)";
    case "string_list":
      return "a list of strings or a comma-separated string";
  }
}

function _bounds(field: IntegerField | NumberField): string {
  const { min, max } = field;
  if (min !== undefined && max !== undefined) return ` between ${min} and ${max}`;
  if (min !== undefined) return ` >= ${min}`;
  if (max !== undefined) return ` <= ${max}`;
  return "";
}

/** Checks a value as parsed from YAML (string, number, boolean, list, ...) against a field. */
export function checkValue(field: FieldSpec, value: unknown): FieldCheck {
  const fail: FieldCheck = { ok: false, expected: describeField(field) };
  switch (field.kind) {
    case "string": {
      if (typeof value !== "string") return fail;
      const aliases = field.aliases ?? {};
      const canonical = Object.hasOwn(aliases, value) ? aliases[value]! : value;
      if (field.enum && !field.enum.includes(canonical)) return fail;
      return { ok: true, value: canonical };
    }
    case "integer":
    case "number": {
      if (typeof value !== "number" || !Number.isFinite(value)) return fail;
      if (field.kind === "integer" && !Number.isInteger(value)) return fail;
      if (field.min !== undefined && value < field.min) return fail;
      if (field.max !== undefined && value > field.max) return fail;
      return { ok: true, value };
    }
    case "boolean":
      return typeof value === "boolean" ? { ok: true, value } : fail;
    case "string_list": {
      if (typeof value === "string") return { ok: true, value: _splitList(value) };
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) return fail;
      return { ok: true, value: [...value] };
    }
  }
}

/** Converts command-line text (`"2"`, `"true"`, `"a,b"`) to the field's type, then checks it. */
export function parseText(field: FieldSpec, text: string): FieldCheck {
  switch (field.kind) {
    case "integer":
    case "number": {
      const trimmed = text.trim();
      const ok = field.kind === "integer" ? /^[+-]?\d+$/.test(trimmed) : trimmed !== "";
      return checkValue(field, ok ? Number(trimmed) : NaN);
    }
    case "boolean": {
      const lower = text.trim().toLowerCase();
      return checkValue(field, lower === "true" ? true : lower === "false" ? false : text);
    }
    default:
      return checkValue(field, text);
  }
}

function _splitList(text: string): string[] {
  return text.split(",").map((part) => part.trim()).filter((part) => part !== "");
}
