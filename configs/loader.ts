/**
 * The deployment config loader (DESIGN.md §7), in two phases.
 *
 * 1. {@linkcode readConfigFile} / {@linkcode parseConfigText} parse the YAML, keeping the line and
 *    column of every key and value, and check the top-level keys (`namespace`, `graph`, `nats`,
 *    `etcd`, `log_level`). Other top-level keys are kept as raw component sections.
 * 2. {@linkcode resolveConfig} checks each section against its component's schema, applies the
 *    `--Component.key=value` overrides and the `NATS_SERVER` / `ETCD_ENDPOINTS` environment (and
 *    the credential and TLS variables, see {@linkcode NATS_ENV} and {@linkcode ETCD_ENV}),
 *    and fills the defaults.
 *
 * Every problem is a {@linkcode ConfigError} whose message starts with `file:line:col:`.
 *
 * @example
 * ```ts
 * import { readConfigFile, resolveConfig } from "./loader.ts";
 * import { defineSchema, integer } from "../actors/config_schema.ts";
 *
 * const doc = await readConfigFile("configs/multi_worker.yaml");
 * const config = resolveConfig(doc, { Frontend: defineSchema({ port: integer({ default: 8000 }) }) }, {
 *   overrides: ["--Frontend.port=9000"],
 *   env: Deno.env.toObject(),
 * });
 * ```
 *
 * @module
 */

import { dirname, isAbsolute, resolve } from "node:path";
import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import {
  boolean,
  checkValue,
  type ConfigSchema,
  type ConfigValues,
  defineSchema,
  describeField,
  integer,
  number,
  parseText,
  string,
} from "../actors/config_schema.ts";

/** A problem in a config file or an override; `message` says where and what. */
export class ConfigError extends Error {
  override name = "ConfigError";
  /** The config file, when the problem is in one. */
  file?: string;
  /** 1-based line and column of the problem, when known. */
  line?: number;
  col?: number;

  /** Builds the error; with a position, the message is prefixed `file:line:col: `. */
  constructor(message: string, where?: { file: string; pos?: Position }, options?: ErrorOptions) {
    const prefix = where
      ? `${where.file}${where.pos ? `:${where.pos.line}:${where.pos.col}` : ""}: `
      : "";
    super(prefix + message, options);
    this.file = where?.file;
    this.line = where?.pos?.line;
    this.col = where?.pos?.col;
  }
}

/** A 1-based line and column in a config file. */
export interface Position {
  line: number;
  col: number;
}

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

/**
 * Certificate files of a TLS connection (`tls:` under `nats:` or `etcd:`). Paths only: the files
 * are read when the connection is made. In a config file a relative path is relative to the file.
 */
export interface TlsFiles {
  /** PEM file of the CA(s) that signed the server's certificate. Default: the system's CAs. */
  caFile?: string;
  /** PEM file of this client's certificate (mutual TLS); needs {@linkcode TlsFiles.keyFile}. */
  certFile?: string;
  /** PEM file of the private key of {@linkcode TlsFiles.certFile}. */
  keyFile?: string;
}

/** The NATS connection settings (`nats:` key, `NATS_SERVER` and the other `NATS_*` variables). */
export interface NatsConfig {
  servers: string[];
  /** User name; needs {@linkcode NatsConfig.pass}. */
  user?: string;
  pass?: string;
  token?: string;
  /** A file holding the user's NKey seed (`SU...`), as `nsc` or `nk -gen user` write it. */
  nkeySeedFile?: string;
  /** TLS settings; when present (even empty) the connection must be TLS. */
  tls?: TlsFiles;
}

/** The etcd connection settings (`etcd:` key, `ETCD_ENDPOINTS` and the other `ETCD_*` variables). */
export interface EtcdConfig {
  endpoints: string[];
  /** User name when etcd has authentication on; needs {@linkcode EtcdConfig.password}. */
  username?: string;
  password?: string;
  /** TLS settings; when present (even empty) the endpoints are `https://`. */
  tls?: TlsFiles;
}

/** The accepted `log_level` values. */
export type LogLevel = "debug" | "info" | "warn" | "error";

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
  /** Every other top-level key, in file order; checked by {@linkcode resolveConfig}. */
  sections: ConfigEntry[];
}

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

/** The config after schemas, overrides, environment and defaults are applied. */
export interface ResolvedConfig {
  file?: string;
  /** Defaults to `"meshwork"`. */
  namespace: string;
  graph?: string;
  nats?: NatsConfig;
  etcd?: EtcdConfig;
  logLevel?: LogLevel;
  components: Record<string, ResolvedComponent>;
}

/** Options of {@linkcode resolveConfig}. */
export interface ResolveOptions {
  /** Dynamo-style overrides: `--Processor.router=random`, `--Worker.ServiceArgs.workers=3`. */
  overrides?: string[];
  /**
   * Environment; `NATS_SERVER` and `ETCD_ENDPOINTS` (comma-separated) beat the file, and so do
   * the variables of {@linkcode NATS_ENV} and {@linkcode ETCD_ENV}, one key at a time. An
   * empty variable counts as unset.
   */
  env?: Record<string, string | undefined>;
}

/** The top-level keys that are not component sections. */
export const TOP_LEVEL_KEYS = ["namespace", "graph", "nats", "etcd", "log_level"] as const;
const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
const NAME = /^[A-Za-z0-9_-]+$/;

/** How a credential or TLS key of `nats:` / `etcd:` reads: its YAML key, field and variable. */
interface _PlaneKey {
  /** The key in the file (`nkey_seed_file`, or `ca_file` under `tls:`). */
  yaml: string;
  /** The field of {@linkcode NatsConfig} / {@linkcode EtcdConfig} / {@linkcode TlsFiles}. */
  field: string;
  /** The environment variable that beats the file. */
  env: string;
  /** `secret`: never echoed in a message; `file`: a path, relative to the config file. */
  kind: "string" | "secret" | "file";
}

const NATS_KEYS: readonly _PlaneKey[] = [
  { yaml: "user", field: "user", env: "NATS_USER", kind: "string" },
  { yaml: "pass", field: "pass", env: "NATS_PASSWORD", kind: "secret" },
  { yaml: "token", field: "token", env: "NATS_TOKEN", kind: "secret" },
  { yaml: "nkey_seed_file", field: "nkeySeedFile", env: "NATS_NKEY_SEED_FILE", kind: "file" },
];
const ETCD_KEYS: readonly _PlaneKey[] = [
  { yaml: "username", field: "username", env: "ETCD_USERNAME", kind: "string" },
  { yaml: "password", field: "password", env: "ETCD_PASSWORD", kind: "secret" },
];
const _tlsKeys = (prefix: string): readonly _PlaneKey[] => [
  { yaml: "ca_file", field: "caFile", env: `${prefix}_CA_FILE`, kind: "file" },
  { yaml: "cert_file", field: "certFile", env: `${prefix}_CERT_FILE`, kind: "file" },
  { yaml: "key_file", field: "keyFile", env: `${prefix}_KEY_FILE`, kind: "file" },
];
const NATS_TLS_KEYS = _tlsKeys("NATS");
const ETCD_TLS_KEYS = _tlsKeys("ETCD");

/**
 * The environment variables of the `nats:` keys (besides `NATS_SERVER`), by key. Each beats the
 * file's value of its key.
 */
export const NATS_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  [...NATS_KEYS, ...NATS_TLS_KEYS.map((k) => ({ ...k, yaml: `tls.${k.yaml}` }))]
    .map((k) => [k.yaml, k.env]),
);

/**
 * The environment variables of the `etcd:` keys (besides `ETCD_ENDPOINTS`), by key. Each beats
 * the file's value of its key.
 */
export const ETCD_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  [...ETCD_KEYS, ...ETCD_TLS_KEYS.map((k) => ({ ...k, yaml: `tls.${k.yaml}` }))]
    .map((k) => [k.yaml, k.env]),
);

/** Where each `nats:` / `etcd:` key of a parsed file was (`user`, `tls`, `tls.ca_file`). */
const _planePositions = new WeakMap<object, Map<string, Position>>();

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
    throw fail(root.pos, `expected a mapping of top-level keys, got ${_got(root)}`);
  }
  for (const entry of root.entries) {
    const { key, value } = entry;
    if (key === "namespace") {
      const name = _string(fileName, key, value);
      if (!NAME.test(name)) {
        throw fail(
          value.pos,
          `namespace: invalid name "${name}"; use letters, digits, "_" and "-" only`,
        );
      }
      doc.namespace = name;
    } else if (key === "graph") {
      const graph = _string(fileName, key, value);
      const isUrl = /^[a-z][a-z0-9+.-]+:/i.test(graph);
      doc.graph = isUrl || isAbsolute(graph) ? graph : resolve(dirname(fileName), graph);
    } else if (key === "log_level") {
      const level = _string(fileName, key, value);
      if (!(LOG_LEVELS as readonly string[]).includes(level)) {
        throw fail(
          value.pos,
          `log_level: expected one of ${LOG_LEVELS.join(", ")}, got "${level}"`,
        );
      }
      doc.logLevel = level as LogLevel;
    } else if (key === "nats") {
      const { list, extra, positions } = _endpoints(
        fileName,
        key,
        value,
        "servers",
        NATS_KEYS,
        NATS_TLS_KEYS,
      );
      doc.nats = { servers: list, ...extra };
      _planePositions.set(doc.nats, positions);
    } else if (key === "etcd") {
      const { list, extra, positions } = _endpoints(
        fileName,
        key,
        value,
        "endpoints",
        ETCD_KEYS,
        ETCD_TLS_KEYS,
      );
      doc.etcd = { endpoints: list, ...extra };
      _planePositions.set(doc.etcd, positions);
    } else {
      doc.sections.push(entry);
    }
  }
  return doc;
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
        file,
        pos: entry.keyPos,
      });
    }
    sections.set(entry.key, entry);
  }

  const resolved: Record<string, ResolvedComponent> = {};
  for (const [name, schema] of Object.entries(components)) {
    resolved[name] = _section(file, name, schema, sections.get(name));
  }
  for (const override of options.overrides ?? []) _override(override, components, resolved);
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
  const env = options.env ?? {};
  const natsEnv = _splitList(env.NATS_SERVER ?? "");
  if (natsEnv.length > 0 || doc.nats) {
    const nats = { ...doc.nats, servers: natsEnv.length > 0 ? natsEnv : doc.nats!.servers };
    config.nats = _withPlaneEnv(file, "nats", nats, doc.nats, env, NATS_KEYS, NATS_TLS_KEYS);
  }
  const etcdEnv = _splitList(env.ETCD_ENDPOINTS ?? "");
  if (etcdEnv.length > 0 || doc.etcd) {
    const etcd = { ...doc.etcd, endpoints: etcdEnv.length > 0 ? etcdEnv : doc.etcd!.endpoints };
    config.etcd = _withPlaneEnv(file, "etcd", etcd, doc.etcd, env, ETCD_KEYS, ETCD_TLS_KEYS);
  }
  return config;
}

/** Checks one component section; an absent or empty (`Worker:`) section is fine. */
function _section(
  file: string,
  name: string,
  schema: ConfigSchema,
  entry: ConfigEntry | undefined,
): ResolvedComponent {
  const result: ResolvedComponent = {
    values: {},
    workers: 1,
    maxInflight: 0,
    serviceArgs: _defaultServiceArgs(),
  };
  if (!entry || (entry.value.kind === "scalar" && entry.value.value === null)) return result;
  const section = _map(file, name, entry.value);
  const seen = new Map<string, string>();
  for (const { key, keyPos, value } of section) {
    const where = { file, pos: keyPos };
    if (key === "ServiceArgs") {
      if (value.kind === "scalar" && value.value === null) continue;
      const seenArgs = new Set<string>();
      for (const arg of _map(file, `${name}.ServiceArgs`, value)) {
        const argKey = _get(SERVICE_ARGS.keyAliases, arg.key) ?? arg.key;
        const field = _get(SERVICE_ARGS.fields, argKey);
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
        const checked = checkValue(field, _plain(arg.value));
        if (!checked.ok) {
          throw new ConfigError(
            `${name}.ServiceArgs.${argKey}: expected ${checked.expected}, got ${_got(arg.value)}`,
            { file, pos: arg.value.pos },
          );
        }
        _setServiceArg(result, argKey, checked.value);
      }
      continue;
    }
    const canonical = _get(schema.keyAliases, key) ?? key;
    const field = _get(schema.fields, canonical);
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
    const checked = checkValue(field, _plain(value));
    if (!checked.ok) {
      throw new ConfigError(
        `${name}.${canonical}: expected ${checked.expected}, got ${_got(value)}`,
        { file, pos: value.pos },
      );
    }
    result.values[canonical] = checked.value;
  }
  return result;
}

/** The `ServiceArgs` keys every component section may hold. */
export const SERVICE_ARGS = defineSchema({
  workers: integer({ default: 1, min: 1, doc: "Instances that serve starts" }),
  max_inflight: integer({
    default: 0,
    min: 0,
    doc: "Requests one instance serves at once; more are answered busy (0: no limit)",
  }),
  restart: string({
    default: "permanent",
    enum: ["permanent", "transient", "temporary"],
    doc: "When a failed instance is restarted",
  }),
  max_restarts: integer({
    default: 5,
    min: 0,
    doc: "Restarts allowed within restart_period_s before the process gives up",
  }),
  restart_period_s: number({ default: 10, min: 0.001, doc: "The window of max_restarts" }),
  processes: boolean({
    default: false,
    doc: "Cluster mode: run each instance as a supervised child process of serve",
  }),
}, { max_inflight_requests: "max_inflight" });

/** The filled `ServiceArgs` of a component. */
export type ServiceArgs = ConfigValues<typeof SERVICE_ARGS>;

function _defaultServiceArgs(): ServiceArgs {
  const args: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(SERVICE_ARGS.fields)) args[key] = field.default;
  return args as ServiceArgs;
}

function _setServiceArg(target: ResolvedComponent, key: string, value: unknown): void {
  (target.serviceArgs as Record<string, unknown>)[key] = value;
  if (key === "workers") target.workers = value as number;
  if (key === "max_inflight") target.maxInflight = value as number;
}

/** Applies one `--Component.key=value` override to `resolved`. */
function _override(
  text: string,
  components: Record<string, ConfigSchema>,
  resolved: Record<string, ResolvedComponent>,
): void {
  const match = /^--([^.=]+)\.([^=]+)=(.*)$/s.exec(text);
  if (!match) {
    throw new ConfigError(`${text}: expected an override like --Component.key=value`);
  }
  const [, name = "", path = "", raw = ""] = match;
  const schema = _get(components, name);
  const target = _get(resolved, name);
  if (!schema || !target) {
    const allowed = Object.keys(components).join(", ");
    throw new ConfigError(`${text}: unknown component "${name}"; expected one of ${allowed}`);
  }
  const argPath = path.startsWith("ServiceArgs.") ? path.slice("ServiceArgs.".length) : undefined;
  const argKey = argPath === undefined
    ? undefined
    : _get(SERVICE_ARGS.keyAliases, argPath) ?? argPath;
  const key = argKey ?? _get(schema.keyAliases, path) ?? path;
  const field = argKey !== undefined ? _get(SERVICE_ARGS.fields, argKey) : _get(schema.fields, key);
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
  if (argKey !== undefined) _setServiceArg(target, argKey, checked.value);
  else target.values[key] = checked.value;
}

/** The entries of a mapping node, or an error naming `what`. */
function _map(file: string, what: string, node: ConfigNode): ConfigEntry[] {
  if (node.kind === "map") return node.entries;
  throw new ConfigError(`${what}: expected a mapping, got ${_got(node)}`, { file, pos: node.pos });
}

/** A string scalar, or an error naming `key`. */
function _string(file: string, key: string, node: ConfigNode): string {
  if (node.kind === "scalar" && typeof node.value === "string") return node.value;
  throw new ConfigError(`${key}: expected a string, got ${_got(node)}`, { file, pos: node.pos });
}

/**
 * Reads `nats:` / `etcd:`: a URL, comma-separated URLs, a list, or a mapping with the list under
 * `listKey`, credentials (`keys`) and `tls:` (`tlsKeys`). Secrets are never echoed in messages;
 * file paths are resolved against the config file's directory.
 */
function _endpoints(
  file: string,
  key: string,
  node: ConfigNode,
  listKey: string,
  keys: readonly _PlaneKey[],
  tlsKeys: readonly _PlaneKey[],
): { list: string[]; extra: Record<string, unknown>; positions: Map<string, Position> } {
  const extra: Record<string, unknown> = {};
  const positions = new Map<string, Position>();
  let listNode: ConfigNode | undefined = node;
  if (node.kind === "map") {
    listNode = undefined;
    for (const entry of node.entries) {
      const spec = keys.find((k) => k.yaml === entry.key);
      if (entry.key === listKey) listNode = entry.value;
      else if (spec) {
        extra[spec.field] = _planeValue(file, `${key}.${entry.key}`, entry.value, spec);
        positions.set(entry.key, entry.keyPos);
      } else if (entry.key === "tls") {
        extra.tls = _tlsSection(file, `${key}.tls`, entry.value, tlsKeys, positions);
        positions.set("tls", entry.keyPos);
      } else {
        const allowed = [listKey, ...keys.map((k) => k.yaml), "tls"].join(", ");
        throw new ConfigError(`unknown key "${key}.${entry.key}"; expected one of ${allowed}`, {
          file,
          pos: entry.keyPos,
        });
      }
    }
    if (!listNode) {
      throw new ConfigError(`${key}: missing key "${listKey}"`, { file, pos: node.pos });
    }
  }
  const what = node.kind === "map" ? `${key}.${listKey}` : key;
  const value = _plain(listNode);
  const ok = typeof value === "string" ||
    (Array.isArray(value) && value.every((item) => typeof item === "string"));
  const list = ok ? (Array.isArray(value) ? value.map((s) => s.trim()) : _splitList(value)) : [];
  if (list.length === 0 || list.some((url) => url === "" || /\s/.test(url))) {
    throw new ConfigError(
      `${what}: expected a URL, a comma-separated list or a list of URLs, got ${_got(listNode)}`,
      { file, pos: listNode.pos },
    );
  }
  return { list, extra, positions };
}

/** Reads `tls:` of `nats:` / `etcd:`: a mapping of file keys; `{}` asks for TLS with system CAs. */
function _tlsSection(
  file: string,
  what: string,
  node: ConfigNode,
  keys: readonly _PlaneKey[],
  positions: Map<string, Position>,
): TlsFiles {
  if (node.kind !== "map") {
    throw new ConfigError(
      `${what}: expected a mapping of ${keys.map((k) => k.yaml).join(", ")} ` +
        `({} for TLS with the system's CAs), got ${_got(node)}`,
      { file, pos: node.pos },
    );
  }
  const tls: Record<string, string> = {};
  for (const entry of node.entries) {
    const spec = keys.find((k) => k.yaml === entry.key);
    if (!spec) {
      const allowed = keys.map((k) => k.yaml).join(", ");
      throw new ConfigError(`unknown key "${what}.${entry.key}"; expected one of ${allowed}`, {
        file,
        pos: entry.keyPos,
      });
    }
    tls[spec.field] = _planeValue(file, `${what}.${entry.key}`, entry.value, spec);
    positions.set(`tls.${entry.key}`, entry.keyPos);
  }
  return tls as TlsFiles;
}

/** One credential or file value: a string; a secret is not echoed; a path is resolved. */
function _planeValue(file: string, what: string, node: ConfigNode, spec: _PlaneKey): string {
  const isString = node.kind === "scalar" && typeof node.value === "string";
  if (spec.kind === "secret" && !isString) {
    const got = node.kind === "scalar"
      ? (node.value === null ? "nothing" : `a ${typeof node.value} (put it in quotes)`)
      : `a ${node.kind === "map" ? "mapping" : "list"}`;
    throw new ConfigError(`${what}: expected a string, got ${got}`, { file, pos: node.pos });
  }
  const value = _string(file, what, node);
  if (spec.kind !== "file") return value;
  if (value.trim() === "") {
    throw new ConfigError(`${what}: expected a file path, got ""`, { file, pos: node.pos });
  }
  return isAbsolute(value) ? value : resolve(dirname(file), value);
}

/**
 * Applies the credential and TLS variables to a merged `nats` / `etcd` setting (each beats the
 * file's value of its key) and checks what must go together: a user with a password, a client
 * certificate with its key, and (NATS) one kind of credentials. A mistake names the file, line and
 * key when the file set it, the variable otherwise, and never a secret.
 */
function _withPlaneEnv<T extends NatsConfig | EtcdConfig>(
  file: string,
  plane: "nats" | "etcd",
  merged: T,
  fromFile: object | undefined,
  env: Record<string, string | undefined>,
  keys: readonly _PlaneKey[],
  tlsKeys: readonly _PlaneKey[],
): T {
  const positions = (fromFile && _planePositions.get(fromFile)) ?? new Map<string, Position>();
  const fromEnv = new Set<string>();
  const out = { ...merged } as Record<string, unknown>;
  for (const spec of keys) {
    const value = env[spec.env];
    if (value === undefined || value === "") continue;
    out[spec.field] = value;
    fromEnv.add(spec.yaml);
  }
  const tls: Record<string, string> = { ...(merged.tls as Record<string, string> | undefined) };
  for (const spec of tlsKeys) {
    const value = env[spec.env];
    if (value === undefined || value === "") continue;
    tls[spec.field] = value;
    fromEnv.add(`tls.${spec.yaml}`);
  }
  if (merged.tls || Object.keys(tls).length > 0) out.tls = tls;

  const all = [...keys, ...tlsKeys.map((k) => ({ ...k, yaml: `tls.${k.yaml}` }))];
  const specOf = (yaml: string) => all.find((k) => k.yaml === yaml)!;
  /** How a key is named in a message: its variable, or `plane.key` (with the file position). */
  const source = (yaml: string) => fromEnv.has(yaml) ? specOf(yaml).env : `${plane}.${yaml}`;
  const where = (yaml: string) => {
    const pos = fromEnv.has(yaml) ? undefined : positions.get(yaml);
    return pos ? { file, pos } : undefined;
  };
  const isSet = (yaml: string) => {
    const field = specOf(yaml).field;
    return yaml.startsWith("tls.") ? tls[field] !== undefined : out[field] !== undefined;
  };
  const needs = (yaml: string, other: string, what: string) => {
    if (!isSet(yaml) || isSet(other)) return;
    throw new ConfigError(
      `${source(yaml)} is set but not ${what}: set ${plane}.${other} or ${specOf(other).env} too`,
      where(yaml),
    );
  };
  const [user, pass] = plane === "nats" ? ["user", "pass"] : ["username", "password"];
  needs(user!, pass!, "the password");
  needs(pass!, user!, "the user name");
  needs("tls.cert_file", "tls.key_file", "the key");
  needs("tls.key_file", "tls.cert_file", "the certificate");
  if (plane === "nats") {
    const kinds = [user!, "token", "nkey_seed_file"].filter(isSet);
    if (kinds.length > 1) {
      const are = kinds.length > 2 ? "are all set" : "are both set";
      throw new ConfigError(
        `NATS credentials: ${kinds.map(source).join(" and ")} ${are}; use one kind ` +
          "(a user and password, a token or an NKey seed file)",
        kinds.map(where).find(Boolean),
      );
    }
  }
  return out as T;
}

/** The plain JS value of a node (for schema checks). */
function _plain(node: ConfigNode): unknown {
  if (node.kind === "scalar") return node.value;
  if (node.kind === "list") return node.items.map(_plain);
  return Object.fromEntries(node.entries.map((e) => [e.key, _plain(e.value)]));
}

/** How a value reads in a message: `"two"`, `3`, `null`, `["a",1]`, `a mapping`. */
function _got(node: ConfigNode): string {
  if (node.kind === "map") return "a mapping";
  if (node.kind === "scalar" && typeof node.value === "number") return String(node.value);
  const text = JSON.stringify(_plain(node));
  return node.kind === "list" && text.length > 40 ? "a list" : text;
}

/** `record[key]` for own keys only, so `constructor` or `toString` is never a config key. */
function _get<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record && Object.hasOwn(record, key) ? record[key] : undefined;
}

function _splitList(text: string): string[] {
  return text.split(",").map((part) => part.trim()).filter((part) => part !== "");
}
