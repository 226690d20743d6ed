/**
 * Finds the external programs that integration tests need, with a message that says exactly what
 * to install when one is missing. `scripts/test.sh` installs them before the tests run (and fails
 * under `CI=true` when they are missing); this is the last, clear word inside a test.
 *
 * @module
 */

/** Debian package names of the programs the tests use. */
export const PACKAGES: Record<string, string> = {
  "nats-server": "nats-server",
  etcd: "etcd-server",
  ip: "iproute2",
  unshare: "util-linux",
  setsid: "util-linux",
  prometheus: "prometheus",
  chromium: "chromium",
  jupyter: "jupyter-nbconvert python3-nbclient",
};

const SEARCH_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** The absolute path of `name`, or `undefined` when it is not installed. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":").filter(Boolean), ...SEARCH_PATH];
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && (info.mode ?? 0o111) & 0o111) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The absolute path of `name`; throws an error naming the package to install when missing. */
export function requireBinary(name: string): string {
  const path = findBinary(name);
  if (path) return path;
  const pkg = PACKAGES[name] ?? name;
  throw new Error(
    `"${name}" is not installed; install it with: apt-get install -y ${pkg} ` +
      `(or run "deno task test", which installs it when it can)`,
  );
}
