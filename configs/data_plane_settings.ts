/**
 * The data plane's settings: the config's top-level `data_plane:` section
 * ({@linkcode readDataPlaneSection}) and the `MESH_DATA_SECRET` / `MESH_DATA_ADVERTISE` variables
 * that beat its `secret` and `advertise` keys ({@linkcode resolveDataPlane}).
 *
 * ```yaml
 * data_plane:
 *   host: 0.0.0.0          # interface the TCP data plane listens on (cluster mode)
 *   port: 0                # 0: a free port
 *   advertise: 10.0.0.2    # host the descriptors name; default: host, or the first non-loopback IPv4
 *   secret: "s3cret"       # pulls must present it (or MESH_DATA_SECRET)
 *   threshold: 65536       # payloads over this many bytes travel by descriptor
 *   ttl_s: 60              # a payload nobody pulls is freed after this long
 * ```
 *
 * A mistake names the file, line and key; the secret is never echoed.
 *
 * @example
 * ```ts
 * import { parseConfigText } from "./yaml_document.ts";
 * import { resolveDataPlane } from "./data_plane_settings.ts";
 *
 * const doc = parseConfigText("data_plane:\n  port: 7001\n", "x.yaml");
 * const settings = resolveDataPlane(doc.dataPlane, { MESH_DATA_ADVERTISE: "10.0.0.2" });
 * console.log(settings); // { port: 7001, advertise: "10.0.0.2" }
 * ```
 *
 * @module
 */

import { ConfigError } from "./config_error.ts";
import type { ConfigNode } from "./config_node.ts";
import { type Environment, envValue } from "./environment.ts";
import { hostName, numberIn, readKeyedSection, type ValueReader } from "./keyed_section.ts";

/** The `data_plane:` section, as set by the file and the environment (unset keys: defaults). */
export interface DataPlaneConfig {
  /** Interface to listen on (cluster mode). Default `0.0.0.0`. */
  host?: string;
  /** Port to listen on; 0: a free one. Default 0. */
  port?: number;
  /** Host descriptors name. Default: `host`, or the machine's first non-loopback IPv4. */
  advertise?: string;
  /** Shared secret every pull must present. Default: none. */
  secret?: string;
  /** Payloads over this many bytes travel by descriptor. Default 65536. */
  threshold?: number;
  /** Seconds a payload is held when nobody pulls it. Default 60. */
  ttlS?: number;
}

/** The largest `threshold` accepted: 1 GiB (the largest payload a pull accepts). */
const _MAX_THRESHOLD = 1024 * 1024 * 1024;

/** Each key: its field and how its value is read. */
const _KEYS: Readonly<Record<string, { field: keyof DataPlaneConfig; read: ValueReader }>> = {
  host: { field: "host", read: hostName },
  port: { field: "port", read: numberIn(0, 65535, true) },
  advertise: { field: "advertise", read: hostName },
  secret: { field: "secret", read: (f, w, n) => _secret(f, w, n) },
  threshold: { field: "threshold", read: numberIn(0, _MAX_THRESHOLD, true) },
  ttl_s: { field: "ttlS", read: numberIn(0.001, 86_400, false) },
};

/** Reads the `data_plane:` section of config file `file`. */
export function readDataPlaneSection(file: string, node: ConfigNode): DataPlaneConfig {
  return readKeyedSection(file, "data_plane", node, _KEYS) as DataPlaneConfig;
}

/**
 * The data plane's settings after the environment: `MESH_DATA_SECRET` beats `data_plane.secret`
 * and `MESH_DATA_ADVERTISE` beats `data_plane.advertise`. `undefined` when neither the file nor
 * the environment sets anything (every default applies).
 */
export function resolveDataPlane(
  fromFile: DataPlaneConfig | undefined,
  env: Environment,
): DataPlaneConfig | undefined {
  const secret = envValue(env, "MESH_DATA_SECRET");
  const advertise = envValue(env, "MESH_DATA_ADVERTISE");
  if (!fromFile && secret === undefined && advertise === undefined) return undefined;
  const config: DataPlaneConfig = { ...fromFile };
  if (secret !== undefined) config.secret = secret;
  if (advertise !== undefined) config.advertise = advertise;
  return config;
}

function _secret(file: string, what: string, node: ConfigNode): string {
  const value = node.kind === "scalar" ? node.value : undefined;
  if (typeof value !== "string" || value === "") {
    const got = node.kind !== "scalar"
      ? `a ${node.kind === "map" ? "mapping" : "list"}`
      : value === null || value === ""
      ? "nothing"
      : `a ${typeof value} (put it in quotes)`;
    throw new ConfigError(`${what}: expected a non-empty string, got ${got}`, {
      file,
      pos: node.pos,
    });
  }
  return value;
}
