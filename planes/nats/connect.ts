/**
 * Connecting to NATS: the server list (`nats://host:port`, bare `host:port`, comma-separated),
 * the credentials (`credentials.ts`), the guarded transport (`guarded_transport.ts`), and a
 * failure message that says what to set when the reason says it.
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../../utils/logger.ts";
import { credentialOptions, type NatsCredentials } from "./credentials.ts";
import { connectGuarded } from "./guarded_transport.ts";
import { NatsBus } from "./nats_bus.ts";

/** Options for {@linkcode connectNatsBus}: where, how, and the credentials. */
export interface NatsBusOptions extends NatsCredentials {
  /**
   * One or more servers: `nats://host:port` or bare `host:port` (a string may list several,
   * comma-separated). A missing port means 4222.
   */
  servers: string | string[];
  /** The connection name the server shows (e.g. in `/connz`). */
  name?: string;
  /** How long the first connection may take, in milliseconds. Default: 5000. */
  timeoutMs?: number;
  /** Reconnect attempts per server after a loss; `-1` means forever. Default: `-1`. */
  maxReconnectAttempts?: number;
  /** Wait between reconnect attempts to one server, in milliseconds. Default: 250. */
  reconnectWaitMs?: number;
  /** Prefix of {@linkcode NatsBus.newInbox} subjects. Default: `"_INBOX"`. */
  inboxPrefix?: string;
  /** Where connection events and misbehaving subscribers are reported. Default: standard error. */
  logger?: Logger;
}

const DEFAULT_PORT = 4222;

/**
 * Connects to NATS and returns a {@linkcode NatsBus}. The first connection must succeed within
 * `timeoutMs`; after that the connection reconnects forever (by default) every 250 ms.
 *
 * Throws `Error("Cannot connect to NATS at nats://127.0.0.1:4222: connection refused")` (the
 * nats.js error as `cause`) when the first connection fails, a `TypeError` for a malformed server
 * address or several kinds of credentials, and `Error('Cannot read the NATS TLS CA file "..."')`
 * (or key, certificate, NKey seed file) when a file cannot be read or does not hold what it should.
 * When the server refuses a client that gave no credentials, or a certificate is not trusted, the
 * message says what to set.
 *
 * @example
 * ```ts ignore
 * import { connectNatsBus } from "./connect.ts";
 * const bus = await connectNatsBus({ servers: Deno.env.get("NATS_SERVER") ?? "localhost:4222" });
 * ```
 */
export async function connectNatsBus(options: NatsBusOptions): Promise<NatsBus> {
  const servers = _serverList(options.servers);
  const shown = servers.map(_redact).join(", ");
  const inboxPrefix = options.inboxPrefix ?? "_INBOX";
  const timeoutMs = options.timeoutMs ?? 5000;
  const credentials = credentialOptions(options, shown);
  let nc: NatsConnection;
  try {
    nc = await connectGuarded({
      servers,
      name: options.name,
      ...credentials,
      timeout: timeoutMs,
      reconnect: true,
      maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
      reconnectTimeWait: options.reconnectWaitMs ?? 250,
      waitOnFirstConnect: false,
      inboxPrefix,
    });
  } catch (error) {
    const reason = _reason(error, timeoutMs);
    throw new Error(`Cannot connect to NATS at ${shown}: ${reason}${_hint(reason, options)}`, {
      cause: error,
    });
  }
  return new NatsBus(nc, { address: shown, inboxPrefix, logger: options.logger });
}

/** What to do about a refused connection, when the reason says it: `" (set ...)"` or `""`. */
function _hint(reason: string, options: NatsBusOptions): string {
  const credentials = options.user ?? options.pass ?? options.token ?? options.nkeySeedFile;
  if (/authorization violation/i.test(reason) && credentials === undefined) {
    return " (the server wants credentials: set NATS_USER and NATS_PASSWORD, NATS_TOKEN or " +
      "NATS_NKEY_SEED_FILE)";
  }
  if (/unable to (verify|get local issuer)|self[- ]signed certificate/i.test(reason)) {
    return options.tls?.caFile === undefined
      ? " (the server's TLS certificate is not signed by a CA this client trusts: set " +
        "NATS_CA_FILE to the CA that signed it)"
      : ` (the server's TLS certificate is not signed by the CA in "${options.tls.caFile}")`;
  }
  const timedOut = /^no answer within/.test(reason);
  if (/certificate required|alert number 116|handshake failure/i.test(reason) || timedOut) {
    // A server that verifies clients (--tlsverify) closes the connection of a client without a
    // certificate in a way nats.js under Deno does not notice: the first connect times out.
    if (timedOut && (options.tls === undefined || options.tls.certFile !== undefined)) return "";
    return options.tls?.certFile === undefined
      ? " (if the server verifies clients (--tlsverify), set NATS_CERT_FILE and NATS_KEY_FILE " +
        "to a client certificate and its key)"
      : " (the server did not accept the client certificate)";
  }
  return "";
}

/** The reason in a connect failure, without a stack. */
function _reason(error: unknown, timeoutMs: number): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError") return `no answer within ${timeoutMs}ms`;
  const message = error.message.replace(/^'(.*)'$/, "$1");
  return message || error.name;
}

function _serverList(servers: string | string[]): string[] {
  const list = (Array.isArray(servers) ? servers : [servers])
    .flatMap((s) => String(s).split(","))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (list.length === 0) throw new TypeError("Cannot connect to NATS: no server given");
  return list.map(_normalizeServer);
}

/** `host:port` → `nats://host:port`; adds port 4222 when missing. */
function _normalizeServer(server: string): string {
  const withScheme = server.includes("://") ? server : `nats://${server}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new TypeError(`Cannot connect to NATS at "${server}": not a valid address`);
  }
  if (!url.hostname) {
    throw new TypeError(`Cannot connect to NATS at "${server}": not a valid address`);
  }
  const auth = url.username ? `${url.username}${url.password ? `:${url.password}` : ""}@` : "";
  return `${url.protocol}//${auth}${url.hostname}:${url.port || DEFAULT_PORT}`;
}

/** The address without credentials, for messages and logs. */
function _redact(server: string): string {
  return server.replace(/\/\/[^@/]*@/, "//");
}
