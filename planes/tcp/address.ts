/**
 * Addresses of TCP data-plane holders: the `host:port` a holder advertises in its descriptors,
 * and parsing one back when pulling.
 *
 * @module
 */

/** Hosts that mean "every interface" when listening, and so cannot be advertised as such. */
const _ANY = new Set(["0.0.0.0", "::", "[::]", ""]);

/**
 * The host a holder listening on `hostname` names in its descriptors: `advertise` when given;
 * otherwise `hostname`, unless that is a wildcard, in which case the machine's first
 * non-loopback IPv4 address (`Deno.networkInterfaces()`), or `127.0.0.1` when there is none or
 * the permission to list interfaces is missing.
 */
export function advertisedHost(hostname: string, advertise?: string): string {
  if (advertise) return advertise;
  if (!_ANY.has(hostname)) return hostname;
  try {
    for (const nic of Deno.networkInterfaces()) {
      if (nic.family === "IPv4" && !nic.address.startsWith("127.")) return nic.address;
    }
  } catch {
    // No --allow-sys=networkInterfaces: fall back to loopback.
  }
  return "127.0.0.1";
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Splits `host:port` (`[v6]:port` too); undefined when it is not one. */
export function parseHostPort(address: string): { hostname: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(address);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { hostname: (match[1] ?? match[2])!, port };
}
