/**
 * etcd client URLs: `ETCD_ENDPOINTS`-style input (URLs, bare `host:port`, comma-separated lists)
 * turned into normalised `http(s)://host:port` URLs.
 *
 * @module
 */

/** Options for {@linkcode parseEtcdEndpoints}. */
export interface ParseEtcdEndpointsOptions {
  /** TLS is configured: endpoints without a scheme are `https://`, and `http://` is an error. */
  tls?: boolean;
}

const DEFAULT_PORT = 2379;

/**
 * Turns `ETCD_ENDPOINTS`-style input into normalised client URLs (`http://host:port`, or
 * `https://host:port` with `{ tls: true }`).
 *
 * @example
 * ```ts
 * import { parseEtcdEndpoints } from "./endpoints.ts";
 * const urls = parseEtcdEndpoints("127.0.0.1:2379, http://etcd-2:2379");
 * console.assert(urls.join() === "http://127.0.0.1:2379,http://etcd-2:2379");
 * ```
 */
export function parseEtcdEndpoints(
  endpoints: string | string[],
  options: ParseEtcdEndpointsOptions = {},
): string[] {
  const items = (Array.isArray(endpoints) ? endpoints : [endpoints])
    .flatMap((item) => item.split(","))
    .map((item) => item.trim())
    .filter(Boolean);
  if (items.length === 0) throw new TypeError("No etcd endpoints given");
  return items.map((item) => {
    const scheme = options.tls ? "https" : "http";
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(item) ? item : `${scheme}://${item}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new TypeError(`Invalid etcd endpoint "${item}": expected http://host:port`);
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || !url.hostname) {
      throw new TypeError(`Invalid etcd endpoint "${item}": expected http://host:port`);
    }
    if (options.tls && url.protocol === "http:") {
      throw new TypeError(
        `Invalid etcd endpoint "${item}": TLS is configured (a CA, certificate or key file), ` +
          "so it must be https://",
      );
    }
    return `${url.protocol}//${url.hostname}:${url.port || DEFAULT_PORT}`;
  });
}
