/**
 * The connection settings of the cluster planes: the `nats:` and `etcd:` keys of a config file
 * ({@linkcode readPlaneSection}) and the `NATS_*` / `ETCD_*` variables that beat them one key at a
 * time ({@linkcode resolvePlane}). A plane is a URL, comma-separated URLs, a list, or a mapping
 * with the list under `servers` / `endpoints`, credentials and `tls:`.
 *
 * Secrets are never echoed in messages; file paths are resolved against the config file's
 * directory. A mistake names the file, line and key when the file set it, the variable otherwise.
 *
 * @example
 * ```ts
 * import { resolvePlane } from "./plane_settings.ts";
 *
 * const nats = resolvePlane("(environment)", "nats", undefined, { NATS_SERVER: "nats://a:4222" });
 * console.log(nats); // { servers: ["nats://a:4222"] }
 * ```
 *
 * @module
 */

import { dirname, isAbsolute, resolve } from "node:path";
import type { TlsFiles } from "../utils/pem.ts";
import { ConfigError, type Position } from "./config_error.ts";
import { type ConfigNode, describeNode, nodeString, plainValue } from "./config_node.ts";
import { type Environment, type EnvName, envValue, splitList } from "./environment.ts";

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

/** The settings of each plane, by its top-level key. */
export interface PlaneConfigs {
  nats: NatsConfig;
  etcd: EtcdConfig;
}

/** A plane's top-level key: `nats` or `etcd`. */
export type PlaneName = keyof PlaneConfigs;

/** How a credential or TLS key of `nats:` / `etcd:` reads: its YAML key, field and variable. */
interface _PlaneKey {
  /** The key in the file (`nkey_seed_file`, or `ca_file` under `tls:`). */
  yaml: string;
  /** The field of {@linkcode NatsConfig} / {@linkcode EtcdConfig} / {@linkcode TlsFiles}. */
  field: string;
  /** The environment variable that beats the file. */
  env: EnvName;
  /** `secret`: never echoed in a message; `file`: a path, relative to the config file. */
  kind: "string" | "secret" | "file";
}

/** What sets one plane apart: its list key and variable, credentials and TLS keys. */
interface _Plane {
  listKey: string;
  listEnv: "NATS_SERVER" | "ETCD_ENDPOINTS";
  keys: readonly _PlaneKey[];
  tlsKeys: readonly _PlaneKey[];
  /** The user and password keys, which go together. */
  user: string;
  pass: string;
}

const _tlsKeys = (prefix: "NATS" | "ETCD"): readonly _PlaneKey[] => [
  { yaml: "ca_file", field: "caFile", env: `${prefix}_CA_FILE`, kind: "file" },
  { yaml: "cert_file", field: "certFile", env: `${prefix}_CERT_FILE`, kind: "file" },
  { yaml: "key_file", field: "keyFile", env: `${prefix}_KEY_FILE`, kind: "file" },
];

/** A plane's spec; its `keys` start with the user and password keys, which go together. */
const _plane = (
  listKey: string,
  listEnv: _Plane["listEnv"],
  prefix: "NATS" | "ETCD",
  keys: readonly _PlaneKey[],
): _Plane => ({
  listKey,
  listEnv,
  keys,
  tlsKeys: _tlsKeys(prefix),
  user: keys[0]!.yaml,
  pass: keys[1]!.yaml,
});

const _PLANES: Readonly<Record<PlaneName, _Plane>> = {
  nats: _plane("servers", "NATS_SERVER", "NATS", [
    { yaml: "user", field: "user", env: "NATS_USER", kind: "string" },
    { yaml: "pass", field: "pass", env: "NATS_PASSWORD", kind: "secret" },
    { yaml: "token", field: "token", env: "NATS_TOKEN", kind: "secret" },
    { yaml: "nkey_seed_file", field: "nkeySeedFile", env: "NATS_NKEY_SEED_FILE", kind: "file" },
  ]),
  etcd: _plane("endpoints", "ETCD_ENDPOINTS", "ETCD", [
    { yaml: "username", field: "username", env: "ETCD_USERNAME", kind: "string" },
    { yaml: "password", field: "password", env: "ETCD_PASSWORD", kind: "secret" },
  ]),
};

/** Every credential and TLS key of a plane, TLS ones as `tls.ca_file`. */
function _allKeys(plane: _Plane): _PlaneKey[] {
  return [...plane.keys, ...plane.tlsKeys.map((k) => ({ ...k, yaml: `tls.${k.yaml}` }))];
}

const _envByKey = (plane: _Plane): Readonly<Record<string, string>> =>
  Object.fromEntries(_allKeys(plane).map((k) => [k.yaml, k.env]));

/**
 * The environment variables of the `nats:` keys (besides `NATS_SERVER`), by key. Each beats the
 * file's value of its key.
 */
export const NATS_ENV: Readonly<Record<string, string>> = _envByKey(_PLANES.nats);

/**
 * The environment variables of the `etcd:` keys (besides `ETCD_ENDPOINTS`), by key. Each beats
 * the file's value of its key.
 */
export const ETCD_ENV: Readonly<Record<string, string>> = _envByKey(_PLANES.etcd);

/** Where each `nats:` / `etcd:` key of a parsed file was (`user`, `tls`, `tls.ca_file`). */
const _positions = new WeakMap<object, Map<string, Position>>();

/** Reads the `nats:` or `etcd:` key of config file `file`. */
export function readPlaneSection<P extends PlaneName>(
  file: string,
  plane: P,
  node: ConfigNode,
): PlaneConfigs[P] {
  const spec = _PLANES[plane];
  const extra: Record<string, unknown> = {};
  const positions = new Map<string, Position>();
  let listNode: ConfigNode | undefined = node;
  if (node.kind === "map") {
    listNode = undefined;
    for (const entry of node.entries) {
      const key = spec.keys.find((k) => k.yaml === entry.key);
      if (entry.key === spec.listKey) listNode = entry.value;
      else if (key) {
        extra[key.field] = _planeValue(file, `${plane}.${entry.key}`, entry.value, key);
        positions.set(entry.key, entry.keyPos);
      } else if (entry.key === "tls") {
        extra.tls = _tlsSection(file, `${plane}.tls`, entry.value, spec.tlsKeys, positions);
        positions.set("tls", entry.keyPos);
      } else {
        const allowed = [spec.listKey, ...spec.keys.map((k) => k.yaml), "tls"].join(", ");
        throw new ConfigError(`unknown key "${plane}.${entry.key}"; expected one of ${allowed}`, {
          file,
          pos: entry.keyPos,
        });
      }
    }
    if (!listNode) {
      throw new ConfigError(`${plane}: missing key "${spec.listKey}"`, { file, pos: node.pos });
    }
  }
  const what = node.kind === "map" ? `${plane}.${spec.listKey}` : plane;
  const value = plainValue(listNode);
  const ok = typeof value === "string" ||
    (Array.isArray(value) && value.every((item) => typeof item === "string"));
  const list = ok ? (Array.isArray(value) ? value.map((s) => s.trim()) : splitList(value)) : [];
  if (list.length === 0 || list.some((url) => url === "" || /\s/.test(url))) {
    throw new ConfigError(
      `${what}: expected a URL, a comma-separated list or a list of URLs, got ${
        describeNode(listNode)
      }`,
      { file, pos: listNode.pos },
    );
  }
  const config = { [spec.listKey]: list, ...extra } as unknown as PlaneConfigs[P];
  _positions.set(config, positions);
  return config;
}

/**
 * The settings of a plane after the environment: its list variable (`NATS_SERVER`,
 * `ETCD_ENDPOINTS`) beats the file's list, and each credential and TLS variable beats the file's
 * value of its key. `undefined` when neither the file nor the environment names the plane.
 * Checks what must go together: a user with a password, a client certificate with its key, and
 * (NATS) one kind of credentials.
 */
export function resolvePlane<P extends PlaneName>(
  file: string,
  plane: P,
  fromFile: PlaneConfigs[P] | undefined,
  env: Environment,
): PlaneConfigs[P] | undefined {
  const spec = _PLANES[plane];
  const list = envValue(env, spec.listEnv) ?? [];
  if (list.length === 0 && !fromFile) return undefined;
  const fileList = (fromFile as Record<string, unknown> | undefined)?.[spec.listKey];
  const merged = { ...fromFile, [spec.listKey]: list.length > 0 ? list : fileList };
  return _withPlaneEnv(file, plane, merged, fromFile, env) as unknown as PlaneConfigs[P];
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
        `({} for TLS with the system's CAs), got ${describeNode(node)}`,
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
  const value = nodeString(file, what, node);
  if (spec.kind !== "file") return value;
  if (value.trim() === "") {
    throw new ConfigError(`${what}: expected a file path, got ""`, { file, pos: node.pos });
  }
  return isAbsolute(value) ? value : resolve(dirname(file), value);
}

/**
 * Applies the credential and TLS variables to a merged `nats` / `etcd` setting and checks what
 * must go together. A mistake names the file, line and key when the file set it, the variable
 * otherwise, and never a secret.
 */
function _withPlaneEnv(
  file: string,
  plane: PlaneName,
  merged: Record<string, unknown>,
  fromFile: object | undefined,
  env: Environment,
): Record<string, unknown> {
  const spec = _PLANES[plane];
  const positions = (fromFile && _positions.get(fromFile)) ?? new Map<string, Position>();
  const fromEnv = new Set<string>();
  const out = { ...merged };
  for (const key of spec.keys) {
    const value = envValue(env, key.env);
    if (value === undefined) continue;
    out[key.field] = value;
    fromEnv.add(key.yaml);
  }
  const tls: Record<string, string> = { ...(merged.tls as Record<string, string> | undefined) };
  for (const key of spec.tlsKeys) {
    const value = envValue(env, key.env);
    if (value === undefined) continue;
    tls[key.field] = value as string;
    fromEnv.add(`tls.${key.yaml}`);
  }
  if (merged.tls || Object.keys(tls).length > 0) out.tls = tls;

  const all = _allKeys(spec);
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
  needs(spec.user, spec.pass, "the password");
  needs(spec.pass, spec.user, "the user name");
  needs("tls.cert_file", "tls.key_file", "the key");
  needs("tls.key_file", "tls.cert_file", "the certificate");
  if (plane === "nats") {
    const kinds = [spec.user, "token", "nkey_seed_file"].filter(isSet);
    if (kinds.length > 1) {
      const are = kinds.length > 2 ? "are all set" : "are both set";
      throw new ConfigError(
        `NATS credentials: ${kinds.map(source).join(" and ")} ${are}; use one kind ` +
          "(a user and password, a token or an NKey seed file)",
        kinds.map(where).find(Boolean),
      );
    }
  }
  return out;
}
