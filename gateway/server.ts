/**
 * The gateway's HTTP server: the only `Deno.serve` call in Meshwork. It serves a Hono app
 * (see `./app.ts`), reports the address it bound (port 0 picks a free one), turns "address in
 * use" into an error that says what to do, and stops gracefully.
 *
 * @example
 * ```ts ignore
 * import { createGatewayApp } from "./app.ts";
 * import { serveGateway } from "./server.ts";
 * const app = createGatewayApp({ generate: async function* () {}, health: () => ({}), ready: () => true });
 * const server = serveGateway(app, { port: 0 });
 * console.log(`http://localhost:${server.port}/live`);
 * await server.shutdown();
 * ```
 *
 * @module
 */

import type { Hono } from "hono";
import type { Logger } from "../utils/logger.ts";
import { errorResponse } from "./http/http_errors.ts";

/** Options for {@linkcode serveGateway}. */
export interface ServeGatewayOptions {
  /** The port to listen on; 0 picks a free one (read it from the result). */
  port: number;
  /** The address to bind. Default: `"0.0.0.0"`. */
  hostname?: string;
  /** Gets the "listening" line and errors that escape the app. Default: nothing is logged. */
  logger?: Logger;
  /** Called once the socket listens, with the bound address. */
  onListen?(addr: { hostname: string; port: number }): void;
}

/** A running gateway server. */
export interface GatewayServer {
  /** The bound port (the real one when 0 was asked for). */
  port: number;
  /** The bound address. */
  hostname: string;
  /** Settles when the server has stopped. */
  finished: Promise<void>;
  /**
   * Stops accepting connections and waits for in-flight requests (streams included) to finish.
   */
  shutdown(): Promise<void>;
}

/**
 * Serves `app` over HTTP. Throws an `Error` naming the port and the option to change when the
 * port is already in use.
 */
export function serveGateway(app: Hono, options: ServeGatewayOptions): GatewayServer {
  const hostname = options.hostname ?? "0.0.0.0";
  const { logger } = options;
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      port: options.port,
      hostname,
      onListen(addr) {
        logger?.info("gateway listening", { hostname: addr.hostname, port: addr.port });
        options.onListen?.({ hostname: addr.hostname, port: addr.port });
      },
      onError(error) {
        return errorResponse(error, { logger, fields: { component: "gateway" } });
      },
    }, app.fetch);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Error(
        `Port ${options.port} is already in use (gateway); choose another with --Frontend.port=...`,
        { cause: error },
      );
    }
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    port: server.addr.port,
    hostname: server.addr.hostname,
    finished: server.finished,
    shutdown() {
      stopping ??= server.shutdown();
      return stopping;
    },
  };
}
