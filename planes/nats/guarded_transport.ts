/**
 * A workaround for runtime bugs, in one place so that it can be deleted when they are fixed:
 * nats.js's Node transport with guarded sockets (see `_GuardedTransport`). Under Deno a
 * socket error can fire after nats.js has detached its listeners, which would otherwise crash the
 * process with an uncaught `ECONNRESET` (seen when the server refuses credentials) or a TLS alert
 * (seen when a server that verifies clients refuses one without a certificate).
 *
 * @module
 */

import {
  type NatsConnection,
  NatsConnectionImpl,
  setTransportFactory,
} from "@nats-io/transport-node";
import { nodeResolveHost, NodeTransport } from "@nats-io/transport-node/lib/node_transport.js";
import type { Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";

/**
 * nats.js's Node transport detaches every socket listener (`removeAllListeners()`) when it closes
 * a socket. Under Deno, a read error (ECONNRESET: the server closed right after `-ERR
 * 'Authorization Violation'`) can already be queued for emission at that moment; with no
 * `error` listener left it becomes an uncaught exception that kills the process. This transport
 * keeps a no-op `error` listener on its sockets at all times; nats.js's own listeners still see
 * every error while they are attached. It also names the host a TLS certificate is checked
 * against (see `startTLS`).
 */
class _GuardedTransport extends NodeTransport {
  #hostname = "";
  #early: _EarlyEvents | undefined;
  override async dial(hp: { hostname: string; port: number }): Promise<Socket> {
    this.#hostname = hp.hostname;
    return _guardSocket(await super.dial(hp));
  }
  /**
   * The STARTTLS upgrade, as nats.js's own with two differences that matter under Deno:
   *
   * - It names the host dialled: Deno's `node:tls` checks the server's certificate against
   *   `servername`, else `host`, else `"localhost"` (Node falls back to the socket's host).
   *   nats.js gives no server name for an IP address and no host, so a certificate for 10.0.0.5
   *   would be checked against "localhost".
   * - The socket is guarded from its creation, and what happens between the end of the handshake
   *   and `setupHandlers()` is kept for nats.js. A server that verifies clients (`--tlsverify`)
   *   answers a client without a certificate with an alert right after the handshake; Deno can
   *   deliver it in the same read as the handshake's end, just after nats.js has removed every
   *   listener: unguarded, it killed the process ("Uncaught Error: received fatal alert").
   */
  override startTLS(): Promise<TLSSocket> {
    const configured = this.options.tls;
    const options: ConnectionOptions = {
      socket: this.socket,
      servername: this.tlsName,
      host: this.#hostname,
      rejectUnauthorized: true,
      ...(typeof configured === "object" && configured !== null ? configured : {}),
    };
    const early: _EarlyEvents = { closed: false };
    this.#early = early;
    return new Promise<TLSSocket>((resolve, reject) => {
      let failure: unknown;
      const socket = tlsConnect(options, () => {
        socket.removeAllListeners(); // nats.js attaches its own in setupHandlers()
        resolve(socket);
      });
      _guardSocket(socket, early);
      socket.on("error", (error) => (failure = error));
      socket.on("close", () => reject(failure ?? new Error("the TLS handshake did not finish")));
    });
  }
  /** nats.js's handlers, then whatever the socket reported before they were attached. */
  override setupHandlers(): void {
    super.setupHandlers();
    const early = this.#early;
    this.#early = undefined;
    if (early?.error !== undefined) this.socket.emit("error", early.error);
    if (early?.closed) this.socket.emit("close", early.error !== undefined);
  }
  override async tlsFirst(hp: { hostname: string; port: number }): Promise<TLSSocket> {
    return _guardSocket(await super.tlsFirst(hp));
  }
}

/** What a TLS socket reported while nobody else listened (see `_GuardedTransport.startTLS`). */
interface _EarlyEvents {
  error?: unknown;
  closed: boolean;
}

function _ignore(): void {}

/**
 * Keeps an `error` listener on `socket` whatever `removeAllListeners` removes; with `early`, that
 * listener (and one for `close`) also records what happened, until nats.js listens itself.
 */
function _guardSocket<S extends Socket>(socket: S, early?: _EarlyEvents): S {
  const target: Socket = socket;
  const onError = early
    ? (error: unknown) => {
      if (early.error === undefined) early.error = error;
    }
    : _ignore;
  const onClose = () => {
    if (early) early.closed = true;
  };
  const removeAll = target.removeAllListeners;
  // Keep the caller's arity: `removeAllListeners(undefined)` is not `removeAllListeners()`.
  target.removeAllListeners = (...args: [eventName?: string | symbol]) => {
    removeAll.apply(target, args);
    if (args.length === 0 || args[0] === "error") target.on("error", onError);
    if (early && (args.length === 0 || args[0] === "close")) target.on("close", onClose);
    return target;
  };
  target.on("error", onError);
  if (early) target.on("close", onClose);
  return socket;
}

/**
 * `connect()` of `@nats-io/transport-node`, with `_GuardedTransport`.
 *
 * @example
 * ```ts ignore
 * const nc = await connectGuarded({ servers: ["nats://127.0.0.1:4222"] });
 * ```
 */
export function connectGuarded(
  options: Parameters<typeof NatsConnectionImpl.connect>[0],
): Promise<NatsConnection> {
  setTransportFactory({ factory: () => new _GuardedTransport(), dnsResolveFn: nodeResolveHost });
  return NatsConnectionImpl.connect(options);
}
