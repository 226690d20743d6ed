/**
 * Secured servers for tests: test certificates made with `openssl` at test time, an etcd that
 * serves its clients over TLS (optionally verifying client certificates), etcd's authentication
 * switched on through its JSON gateway, and a `nats-server` config for NKey users.
 *
 * Everything runs on loopback, every wait is bounded, processes are stopped by PID and temporary
 * directories are removed by the disposers. The plain helpers (`nats_server.ts`,
 * `etcd_server.ts`) are used as they are wherever they suffice.
 *
 * @example
 * ```ts ignore
 * import { makeCertificates, startTlsEtcd } from "./secure_servers.ts";
 * await using certs = await makeCertificates();
 * await using etcd = await startTlsEtcd(certs, { clientCertAuth: true });
 * console.log(etcd.endpoint); // https://127.0.0.1:PORT
 * ```
 *
 * @module
 */

import { nkeys } from "@nats-io/transport-node";
import { requireBinary } from "./binaries.ts";
import { freePort } from "./free_port.ts";

/**
 * PEM files of a test CA, a server certificate for the address 127.0.0.1 (no host name: clients
 * must check the certificate against the address they dial) and a client certificate.
 */
export interface TestCertificates extends AsyncDisposable {
  /** The directory holding them (removed on dispose). */
  readonly dir: string;
  /** The CA's certificate: what clients trust (`NATS_CA_FILE`, `ETCD_CA_FILE`). */
  readonly caFile: string;
  /** The server certificate (IP 127.0.0.1 only; server and client use) and its key. */
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** A client certificate (no CN) and its key, for servers that verify clients. */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
}

const OPENSSL_TIMEOUT_MS = 20_000;
const HEALTH_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 3_000;

/** Runs a program to its end within `timeoutMs` (killed by PID after it); throws on failure. */
async function run(program: string, args: string[], cwd: string, timeoutMs: number) {
  const child = new Deno.Command(program, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      Deno.kill(child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }, timeoutMs);
  try {
    const { code, stdout, stderr } = await child.output();
    if (timedOut) throw new Error(`${program} ${args.join(" ")}: no end within ${timeoutMs}ms`);
    if (code !== 0) {
      const text = new TextDecoder().decode(stderr) || new TextDecoder().decode(stdout);
      throw new Error(`${program} ${args.join(" ")} exited with code ${code}:\n${text}`);
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Makes a CA, a server certificate and a client certificate (EC P-256, valid one day) with
 * `openssl` in a new temporary directory.
 */
export async function makeCertificates(): Promise<TestCertificates> {
  const openssl = requireBinary("openssl");
  const dir = await Deno.makeTempDir({ prefix: "meshwork-certs-" });
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const serial = () => `0x${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const openSsl = (...args: string[]) => run(openssl, args, dir, OPENSSL_TIMEOUT_MS);
  try {
    await openSsl(
      "req",
      "-x509",
      ...key,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "1",
      "-subj",
      "/CN=Meshwork Test CA",
    );
    const sign = async (name: string, subject: string, extensions: string) => {
      await Deno.writeTextFile(`${dir}/${name}.ext`, extensions);
      await openSsl(
        "req",
        ...key,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
        "-subj",
        subject,
      );
      await openSsl(
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        serial(),
        "-days",
        "1",
        "-out",
        `${name}.pem`,
        "-extfile",
        `${name}.ext`,
      );
    };
    // etcd also dials itself with its server certificate (its JSON gateway): clientAuth too.
    await sign(
      "server",
      "/CN=127.0.0.1",
      "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    );
    // No CN: etcd 3.4's HTTP gateway (which the registry speaks) refuses client certificates
    // that carry one while authentication is on; the etcd user comes from username/password.
    await sign("client", "/O=Meshwork test client", "extendedKeyUsage=clientAuth\n");
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  return {
    dir,
    caFile: `${dir}/ca.pem`,
    serverCertFile: `${dir}/server.pem`,
    serverKeyFile: `${dir}/server.key`,
    clientCertFile: `${dir}/client.pem`,
    clientKeyFile: `${dir}/client.key`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

/** A Deno HTTP client that trusts the test CA and, when asked, presents the client certificate. */
export function tlsHttpClient(certs: TestCertificates, clientCert = false): Deno.HttpClient {
  const caCerts = [Deno.readTextFileSync(certs.caFile)];
  return clientCert
    ? Deno.createHttpClient({
      caCerts,
      cert: Deno.readTextFileSync(certs.clientCertFile),
      key: Deno.readTextFileSync(certs.clientKeyFile),
    })
    : Deno.createHttpClient({ caCerts });
}

/** An etcd member started by {@linkcode startTlsEtcd}. */
export interface TlsEtcd extends AsyncDisposable {
  /** `https://127.0.0.1:PORT`. */
  readonly endpoint: string;
  readonly pid: number;
  /** Everything it has written so far. */
  output(): string;
  /** An HTTP client for its JSON gateway (closed on dispose). */
  readonly http: Deno.HttpClient;
  /** SIGTERM by PID, SIGKILL after 3 s; waits for the exit. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startTlsEtcd}. */
export interface TlsEtcdOptions {
  /** `--client-cert-auth`: clients must present a certificate signed by the test CA. */
  clientCertAuth?: boolean;
}

/**
 * Starts a single-member etcd whose client URL is `https://127.0.0.1:PORT` (server certificate
 * of `certs`), waits until `GET /health` over TLS says it is healthy (15 s at most).
 */
export async function startTlsEtcd(
  certs: TestCertificates,
  options: TlsEtcdOptions = {},
): Promise<TlsEtcd> {
  const binary = requireBinary("etcd");
  const root = await Deno.makeTempDir({ prefix: "meshwork-tls-etcd-" });
  const log = `${root}/etcd.log`;
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const endpoint = `https://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    "--name=meshwork-tls",
    `--data-dir=${root}/data`,
    `--listen-client-urls=${endpoint}`,
    `--advertise-client-urls=${endpoint}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=meshwork-tls=${peer}`,
    "--initial-cluster-state=new",
    `--cert-file=${certs.serverCertFile}`,
    `--key-file=${certs.serverKeyFile}`,
    `--trusted-ca-file=${certs.caFile}`,
    ...(options.clientCertAuth ? ["--client-cert-auth"] : []),
    "--logger=zap",
  ];
  // `exec` keeps the process id: the pid we signal is etcd's own, never a shell's.
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", 'exec "$0" "$@" >"$MESHWORK_ETCD_LOG" 2>&1', binary, ...args],
    env: { MESHWORK_ETCD_LOG: log },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const http = tlsHttpClient(certs, true);
  const output = () => {
    try {
      return Deno.readTextFileSync(log);
    } catch {
      return "";
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      const signal = (name: Deno.Signal) => {
        try {
          if (!exited) Deno.kill(child.pid, name);
        } catch {
          // already gone
        }
      };
      signal("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), STOP_GRACE_MS);
      });
      if (await Promise.race([status, late]) === "late") signal("SIGKILL");
      clearTimeout(timer);
      await status;
    })();
  const server: TlsEtcd = {
    endpoint,
    pid: child.pid,
    output,
    http,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
      http.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  while (Date.now() < deadline && !exited) {
    if (await healthy(endpoint, http)) return server;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const why = exited ? "it exited" : `it was not healthy after ${HEALTH_TIMEOUT_MS} ms`;
  const text = output();
  await server[Symbol.asyncDispose]();
  throw new Error(`Cannot start etcd with TLS at ${endpoint}: ${why}; its output:\n${text}`);
}

async function healthy(endpoint: string, client: Deno.HttpClient): Promise<boolean> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 1_000);
  try {
    const response = await fetch(`${endpoint}/health`, { client, signal: controller.signal });
    const body = await response.text();
    return response.ok && JSON.parse(body)?.health === "true";
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** A least-privilege etcd user: read and write under one prefix only. */
export interface EtcdUser {
  name: string;
  password: string;
  /** The key prefix the user may read and write, e.g. `mesh/`. */
  prefix: string;
}

/**
 * Switches etcd's authentication on through its JSON gateway: a `root` user (required by etcd)
 * with `rootPassword`, and each of `users` with a role that may read and write its prefix only.
 * Every request is bounded (5 s).
 */
export async function enableEtcdAuth(
  endpoint: string,
  rootPassword: string,
  users: EtcdUser[] = [],
  client?: Deno.HttpClient,
): Promise<void> {
  const b64 = (text: string) => btoa(text);
  /** The end of a prefix range: the prefix with its last byte incremented. */
  const rangeEnd = (prefix: string) =>
    prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  const steps: [string, unknown][] = [
    ["auth/role/add", { name: "root" }],
    ["auth/user/add", { name: "root", password: rootPassword }],
    ["auth/user/grant", { user: "root", role: "root" }],
  ];
  for (const user of users) {
    const role = `${user.name}-role`;
    steps.push(
      ["auth/role/add", { name: role }],
      ["auth/role/grant", {
        name: role,
        perm: {
          permType: "READWRITE",
          key: b64(user.prefix),
          range_end: b64(rangeEnd(user.prefix)),
        },
      }],
      ["auth/user/add", { name: user.name, password: user.password }],
      ["auth/user/grant", { user: user.name, role }],
    );
  }
  steps.push(["auth/enable", {}]);
  for (const [path, body] of steps) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 5_000);
    try {
      const response = await fetch(`${endpoint}/v3/${path}`, {
        method: "POST",
        body: JSON.stringify(body),
        signal: controller.signal,
        ...(client ? { client } : {}),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`etcd ${path}: ${response.status} ${text}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A NATS user NKey: the seed (secret, `SU...`) and the public key (`U...`). */
export interface UserNkey {
  seed: string;
  publicKey: string;
}

/** Makes a new user NKey with the nkeys library that nats.js itself uses. */
export function newUserNkey(): UserNkey {
  const pair = nkeys.createUser();
  return { seed: new TextDecoder().decode(pair.getSeed()), publicKey: pair.getPublicKey() };
}

/**
 * Writes a `nats-server` config that admits only the given NKey users, and returns the arguments
 * that load it (`-c FILE`, for `startNatsServer({ args })`).
 */
export async function natsNkeyConfig(dir: string, publicKeys: string[]): Promise<string[]> {
  const file = `${dir}/nats-nkeys.conf`;
  const users = publicKeys.map((key) => `    { nkey: "${key}" }`).join("\n");
  await Deno.writeTextFile(file, `authorization {\n  users = [\n${users}\n  ]\n}\n`);
  return ["-c", file];
}
