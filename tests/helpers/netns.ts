/**
 * Builds a small, private "LAN" of network namespaces for end-to-end tests that need several
 * hosts on one machine: a bridge in a namespace of its own, and one namespace per host, joined to
 * the bridge by a veth pair, with an address in a private /24 and `lo` up. Nothing is created in
 * the root namespace, so the host's own network is never touched and traffic cannot leave the
 * namespaces. Every name carries a random suffix (`mw<rand>br`, `mw<rand>n1`, ...), so parallel
 * runs do not collide; the /24 is the same for every run, because each run's bridge is isolated.
 *
 * {@linkcode Topology.wrap} gives the command line that runs a program in a host's namespace and
 * in a UTS namespace of its own whose hostname is the host's name, so `Deno.hostname()` in that
 * process answers `node2` without any environment override.
 *
 * Needs root (`CAP_SYS_ADMIN` and `CAP_NET_ADMIN`); {@linkcode netnsUnavailable} says, once, why
 * a test cannot build a topology here.
 *
 * @example
 * ```ts ignore
 * import { createTopology, netnsUnavailable } from "./netns.ts";
 * if (!(await netnsUnavailable())) {
 *   await using net = await createTopology({ hosts: ["node1", "node2"] });
 *   const argv = net.wrap("node2", ["sh", "-c", "hostname; ip -brief addr"]);
 * }
 * ```
 *
 * @module
 */

import { findBinary, requireBinary } from "./binaries.ts";

/** One host of a {@linkcode Topology}. */
export interface NetnsHost {
  /** The hostname its processes see, e.g. `node1`. */
  readonly hostname: string;
  /** The name of its network namespace, e.g. `mw3fa9c1n1`. */
  readonly netns: string;
  /** Its IPv4 address on the bridge, e.g. `10.213.0.1`. */
  readonly address: string;
}

/** Options for {@linkcode createTopology}. */
export interface TopologyOptions {
  /** The hostnames, one namespace each, in order. */
  hosts: readonly string[];
  /** The first three octets of the /24; host `i` gets `.i+1`. Default `10.213.0`. */
  subnet?: string;
}

/** Options for {@linkcode Topology.wrap}. */
export interface WrapOptions {
  /** Environment variables to remove before the program starts (e.g. an override of the host). */
  unsetEnv?: readonly string[];
}

/** The namespaces and links that {@linkcode createTopology} made; disposing deletes them all. */
export interface Topology extends AsyncDisposable {
  /** The random part of every name. */
  readonly id: string;
  /** The namespace that holds the bridge `br0`. */
  readonly bridgeNetns: string;
  /** The hosts, in the order given. */
  readonly hosts: readonly NetnsHost[];
  /** The host named `hostname`; throws for an unknown name. */
  host(hostname: string): NetnsHost;
  /**
   * `command` prefixed so that it runs in the host's network namespace and in a new UTS
   * namespace with the host's hostname. The prefix `exec`s all the way down: the process id of
   * the spawned child is the program's own, so it can be signalled by PID.
   */
  wrap(hostname: string, command: readonly string[], options?: WrapOptions): string[];
  /** Runs `command` in the host's network namespace (not a new UTS namespace) to completion. */
  run(
    hostname: string,
    command: readonly string[],
    options?: { signal?: AbortSignal },
  ): Promise<Deno.CommandOutput>;
  /** Deletes every namespace (and with them the bridge and the veth pairs). Idempotent. */
  destroy(): Promise<void>;
}

const decoder = new TextDecoder();

/** Runs `ip <args>`; throws with the command and its stderr when it fails. */
async function ip(args: readonly string[]): Promise<void> {
  const out = await new Deno.Command(requireBinary("ip"), {
    args: [...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = decoder.decode(out.stderr).trim() || `exit code ${out.code}`;
    throw new Error(`"ip ${args.join(" ")}" failed: ${err}`);
  }
}

/** `ip netns del` for each name, ignoring the ones that do not exist (any more). */
async function deleteNamespaces(names: readonly string[]): Promise<void> {
  for (const name of names) await ip(["netns", "del", name]).catch(() => {});
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(3));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

let probed: Promise<string | undefined> | undefined;

/**
 * Why this machine cannot run namespace tests, or `undefined` when it can. Checks once per
 * process: root, `ip` and `unshare` installed, then creates a throw-away namespace with a bridge
 * in it, sets a hostname in a new UTS namespace inside it, and deletes it again.
 */
export function netnsUnavailable(): Promise<string | undefined> {
  return probed ??= probe();
}

async function probe(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return `network namespaces need Linux (this is ${Deno.build.os})`;
  if (Deno.uid() !== 0) return `network namespaces need root (uid is ${Deno.uid()})`;
  for (const name of ["ip", "unshare", "hostname"]) {
    if (!findBinary(name)) return `"${name}" is not installed`;
  }
  const name = `mw${randomId()}probe`;
  try {
    await ip(["netns", "add", name]);
  } catch (error) {
    return `"ip netns add" is not permitted here: ${(error as Error).message}`;
  }
  try {
    await ip(["-n", name, "link", "add", "br0", "type", "bridge"]);
    const out = await new Deno.Command(requireBinary("ip"), {
      args: [
        "netns",
        "exec",
        name,
        requireBinary("unshare"),
        "--uts",
        "sh",
        "-c",
        'hostname mwprobe && test "$(hostname)" = mwprobe',
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      return `cannot set a hostname in a new UTS namespace: ${decoder.decode(out.stderr).trim()}`;
    }
    return undefined;
  } catch (error) {
    return `cannot build a bridge in a network namespace: ${(error as Error).message}`;
  } finally {
    await deleteNamespaces([name]);
  }
}

/**
 * Creates the bridge namespace and one namespace per host, each with `eth0` (a veth whose peer is
 * a port of the bridge) at `<subnet>.<i+1>/24` and `lo` up. On any failure, whatever was created
 * is deleted before the error is thrown.
 */
export async function createTopology(options: TopologyOptions): Promise<Topology> {
  const subnet = options.subnet ?? "10.213.0";
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(subnet)) {
    throw new TypeError(`subnet must be three octets like "10.213.0", got "${subnet}"`);
  }
  if (options.hosts.length === 0 || options.hosts.length > 250) {
    throw new RangeError(`hosts must list 1 to 250 names, got ${options.hosts.length}`);
  }
  if (new Set(options.hosts).size !== options.hosts.length) {
    throw new TypeError(`hostnames must be unique: ${options.hosts.join(", ")}`);
  }
  const ipPath = requireBinary("ip");
  const unsharePath = requireBinary("unshare");
  const id = randomId();
  const bridgeNetns = `mw${id}br`;
  const hosts: NetnsHost[] = options.hosts.map((hostname, i) => ({
    hostname,
    netns: `mw${id}n${i + 1}`,
    address: `${subnet}.${i + 1}`,
  }));
  const created: string[] = [];

  const destroy = async () => {
    // Hosts first: deleting a host namespace also deletes its veth pair, bridge end included.
    await deleteNamespaces(created.splice(0).reverse());
  };

  try {
    await ip(["netns", "add", bridgeNetns]);
    created.push(bridgeNetns);
    await ip(["-n", bridgeNetns, "link", "set", "lo", "up"]);
    await ip(["-n", bridgeNetns, "link", "add", "br0", "type", "bridge"]);
    await ip(["-n", bridgeNetns, "link", "set", "br0", "up"]);
    for (const [i, host] of hosts.entries()) {
      const port = `v${i + 1}`;
      await ip(["netns", "add", host.netns]);
      created.push(host.netns);
      await ip([
        "-n",
        host.netns,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        port,
        "netns",
        bridgeNetns,
      ]);
      await ip(["-n", bridgeNetns, "link", "set", port, "master", "br0"]);
      await ip(["-n", bridgeNetns, "link", "set", port, "up"]);
      await ip(["-n", host.netns, "addr", "add", `${host.address}/24`, "dev", "eth0"]);
      await ip(["-n", host.netns, "link", "set", "eth0", "up"]);
      await ip(["-n", host.netns, "link", "set", "lo", "up"]);
    }
  } catch (error) {
    await destroy();
    throw error;
  }

  const host = (hostname: string): NetnsHost => {
    const found = hosts.find((h) => h.hostname === hostname);
    if (!found) throw new Error(`no host "${hostname}" (hosts: ${options.hosts.join(", ")})`);
    return found;
  };

  return {
    id,
    bridgeNetns,
    hosts,
    host,
    wrap(hostname, command, wrapOptions = {}) {
      const { netns } = host(hostname);
      const unset = (wrapOptions.unsetEnv ?? []).filter((name) =>
        /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)
      );
      const script = `hostname "$0" && ${
        unset.length ? `unset ${unset.join(" ")} && ` : ""
      }exec "$@"`;
      // `ip netns exec` and `unshare` (without --fork) exec their command; so does the shell.
      return [
        ipPath,
        "netns",
        "exec",
        netns,
        unsharePath,
        "--uts",
        "sh",
        "-c",
        script,
        hostname,
        ...command,
      ];
    },
    run(hostname, command, runOptions = {}) {
      const { netns } = host(hostname);
      return new Deno.Command(ipPath, {
        args: ["netns", "exec", netns, ...command],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: runOptions.signal,
      }).output();
    },
    destroy,
    [Symbol.asyncDispose]: destroy,
  };
}
