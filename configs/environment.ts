/**
 * Every environment variable Meshwork reads, in one table ({@linkcode ENVIRONMENT}: name, meaning,
 * default, and how a value is parsed), and the one place that reads the process environment
 * ({@linkcode readEnvironment}). The rest of the code gets an {@linkcode Environment} object and
 * asks {@linkcode envValue} for one variable, so tests pass a plain object instead. README.md's
 * configuration section shows the same table ({@linkcode environmentTable} writes it).
 *
 * An empty variable counts as unset. A bad value is a {@linkcode ConfigError} that names the
 * variable; `MESH_LOG_LEVEL` alone ignores a value it does not know (the default applies).
 *
 * @example
 * ```ts
 * import { envValue } from "./environment.ts";
 *
 * const env = { MESH_LEASE_TTL_S: "3", NATS_SERVER: "nats://a:4222, nats://b:4222" };
 * envValue(env, "MESH_LEASE_TTL_S"); // 3
 * envValue(env, "NATS_SERVER"); // ["nats://a:4222", "nats://b:4222"]
 * envValue(env, "MESH_STATUS_PORT"); // undefined
 * ```
 *
 * @module
 */

import { isLogLevel } from "../utils/logger.ts";
import { ConfigError } from "./config_error.ts";

/** The variables of a process, by name (`Deno.env.toObject()`, or a test's object). */
export type Environment = Readonly<Record<string, string | undefined>>;

/** One environment variable: what it means, what applies without it, how a value is read. */
export interface EnvVariable<T> {
  /** What it sets, for the README's table. */
  meaning: string;
  /** What applies when it is unset or empty, for the README's table. */
  default: string;
  /** Reads a non-empty value; a bad one is a {@linkcode ConfigError} naming `name`. */
  parse(text: string, name: string): T;
}

/** The items of a comma-separated list, trimmed, without empty ones: `"a, b,"` is `["a", "b"]`. */
export function splitList(text: string): string[] {
  return text.split(",").map((part) => part.trim()).filter((part) => part !== "");
}

/** A whole number from `min` to `max`. */
function _wholeNumber(min: number, max: number): (text: string, name: string) => number {
  return (text, name) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(
        `${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`,
      );
    }
    return value;
  };
}

const _text = (text: string): string => text;
const _beats = (what: string, key: string) => `${what}; beats \`${key}\``;

/**
 * Every variable Meshwork reads, by name. The `NATS_*` and `ETCD_*` ones beat the config's
 * `nats:` / `etcd:` keys one key at a time (configs/plane_settings.ts); the `MESH_*` ones are read
 * at start-up (runtime/start_mesh.ts, bin/serve.ts).
 */
export const ENVIRONMENT = {
  NATS_SERVER: {
    meaning: "NATS server URL(s), comma-separated (with `ETCD_ENDPOINTS`: cluster mode); " +
      "beats `nats.servers`",
    default: "the config's `nats:`; else the embedded bus",
    parse: splitList,
  },
  NATS_USER: {
    meaning: _beats("NATS user name (needs `NATS_PASSWORD`)", "nats.user"),
    default: "none",
    parse: _text,
  },
  NATS_PASSWORD: {
    meaning: _beats("NATS password (needs `NATS_USER`)", "nats.pass"),
    default: "none",
    parse: _text,
  },
  NATS_TOKEN: {
    meaning: _beats("NATS token", "nats.token"),
    default: "none",
    parse: _text,
  },
  NATS_NKEY_SEED_FILE: {
    meaning: _beats("File holding the NATS user's NKey seed (`SU...`)", "nats.nkey_seed_file"),
    default: "none",
    parse: _text,
  },
  NATS_CA_FILE: {
    meaning: _beats("PEM file of the CA(s) of the NATS server; asks for TLS", "nats.tls.ca_file"),
    default: "the system's CAs",
    parse: _text,
  },
  NATS_CERT_FILE: {
    meaning: _beats("PEM client certificate for NATS (mutual TLS)", "nats.tls.cert_file"),
    default: "none",
    parse: _text,
  },
  NATS_KEY_FILE: {
    meaning: _beats("PEM private key of `NATS_CERT_FILE`", "nats.tls.key_file"),
    default: "none",
    parse: _text,
  },
  ETCD_ENDPOINTS: {
    meaning: "etcd endpoint URL(s), comma-separated (with `NATS_SERVER`: cluster mode); " +
      "beats `etcd.endpoints`",
    default: "the config's `etcd:`; else the embedded registry",
    parse: splitList,
  },
  ETCD_USERNAME: {
    meaning: _beats("etcd user name (needs `ETCD_PASSWORD`)", "etcd.username"),
    default: "none",
    parse: _text,
  },
  ETCD_PASSWORD: {
    meaning: _beats("etcd password (needs `ETCD_USERNAME`)", "etcd.password"),
    default: "none",
    parse: _text,
  },
  ETCD_CA_FILE: {
    meaning: _beats("PEM file of the CA(s) of etcd; asks for TLS", "etcd.tls.ca_file"),
    default: "the system's CAs",
    parse: _text,
  },
  ETCD_CERT_FILE: {
    meaning: _beats("PEM client certificate for etcd (mutual TLS)", "etcd.tls.cert_file"),
    default: "none",
    parse: _text,
  },
  ETCD_KEY_FILE: {
    meaning: _beats("PEM private key of `ETCD_CERT_FILE`", "etcd.tls.key_file"),
    default: "none",
    parse: _text,
  },
  MESH_LOG_LEVEL: {
    meaning: "Log level: `debug`, `info`, `warn` or `error` (another value is ignored); " +
      "`--log-level` and the config's `log_level` beat it",
    default: "`info`",
    parse: (text: string) => isLogLevel(text) ? text : undefined,
  },
  MESH_HOSTNAME: {
    meaning: "Host name in instance records and answers (useful in containers)",
    default: "the machine's host name",
    parse: _text,
  },
  MESH_STATUS_PORT: {
    meaning: "Port for `/live`, `/ready`, `/health` and `/metrics` (0: a free one); " +
      "`--status-port` beats it",
    default: "none",
    parse: _wholeNumber(0, 65535),
  },
  MESH_LEASE_TTL_S: {
    meaning: "TTL of the process's registry lease, in seconds (1 to 3600)",
    default: "10",
    parse: _wholeNumber(1, 3600),
  },
  MESH_API_KEYS: {
    meaning: "Bearer keys the gateway accepts, comma-separated, besides the config's `api_keys`",
    default: "none",
    parse: splitList,
  },
  MESH_DATA_SECRET: {
    meaning: "Shared secret of the data plane: pulls of this process's payloads must present it, " +
      "and its pulls do; beats `data_plane.secret`",
    default: "none",
    parse: _text,
  },
  MESH_DATA_ADVERTISE: {
    meaning: "Host the data plane's descriptors name, which the other nodes must reach; " +
      "beats `data_plane.advertise`",
    default: "`data_plane.host`, or the first non-loopback IPv4 address when that is `0.0.0.0`",
    parse: _text,
  },
  MESH_METRICS_ADVERTISE: {
    meaning: "Host the registry's Prometheus scrape targets name for this process's metrics " +
      "ports, which Prometheus must reach; beats `telemetry.advertise`",
    default: "the listening host, or the first non-loopback IPv4 address when that is `0.0.0.0`",
    parse: _text,
  },
  MESH_TELEMETRY_PORT: {
    meaning: "Port of the node telemetry agent, when the config has a `telemetry:` section " +
      "(0: a free one); beats `telemetry.port`",
    default: "`telemetry.port`, else 9400",
    parse: _wholeNumber(0, 65535),
  },
  MESH_PARENT_PID: {
    meaning: "Set by `serve` on the instance processes it starts (`ServiceArgs.processes`): " +
      "its own PID",
    default: "unset",
    parse: _wholeNumber(1, Number.MAX_SAFE_INTEGER),
  },
} satisfies Record<string, EnvVariable<unknown>>;

/** The name of a variable of {@linkcode ENVIRONMENT}. */
export type EnvName = keyof typeof ENVIRONMENT;

/** What {@linkcode envValue} returns for a set variable `N`. */
export type EnvValue<N extends EnvName> = ReturnType<(typeof ENVIRONMENT)[N]["parse"]>;

/** The parsed value of variable `name` of `env`, or `undefined` when it is unset or empty. */
export function envValue<N extends EnvName>(env: Environment, name: N): EnvValue<N> | undefined {
  const text = env[name];
  if (text === undefined || text === "") return undefined;
  const variable: EnvVariable<unknown> = ENVIRONMENT[name];
  return variable.parse(text, name) as EnvValue<N>;
}

/** The environment of this process: the only read of `Deno.env` in the project. */
export function readEnvironment(): Environment {
  return Deno.env.toObject();
}

/** {@linkcode ENVIRONMENT} as a Markdown table, as README.md's configuration section shows it. */
export function environmentTable(): string {
  const rows = Object.entries(ENVIRONMENT).map(([name, v]: [string, EnvVariable<unknown>]) =>
    `| \`${name}\` | ${v.meaning} | ${v.default} |`
  );
  return ["| variable | meaning | default |", "|---|---|---|", ...rows].join("\n");
}
