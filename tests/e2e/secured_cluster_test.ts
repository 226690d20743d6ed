/**
 * A secured cluster, end to end, the way a user runs it: `nats-server` with authorization on
 * (user and password, token, NKey) and with TLS (verifying client certificates), etcd with
 * authentication on (a least-privilege user) and with TLS (verifying client certificates). Each
 * test checks that a process without the credentials is refused at once, in one line that says
 * what is wrong and never shows a secret, and that with them the hello-world mesh answers
 * `POST /generate` with the exact seed body, the Worker in its own process across the secured
 * planes.
 *
 * Certificates are made with `openssl` at test time, in a temporary directory removed afterwards.
 */

import assert from "node:assert/strict";
import { startEtcd } from "../helpers/etcd_server.ts";
import { freePort } from "../helpers/free_port.ts";
import { type MeshProcess, spawnMesh } from "../helpers/mesh_process.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { untilInstances, untilReady } from "../helpers/ops_probe.ts";
import {
  enableEtcdAuth,
  makeCertificates,
  natsNkeyConfig,
  newUserNkey,
  startTlsEtcd,
} from "../helpers/secure_servers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const EXPECTED =
  `{"worker_output":"test prompt_ProcessedBy_node1_GeneratedBy_node2","request_id":"id_number"}`;
/** How long a refused process may take to exit (a NATS connect times out after 5 s). */
const REFUSAL_MS = 15_000;
const NO_CREDENTIALS_HINT =
  " (the server wants credentials: set NATS_USER and NATS_PASSWORD, NATS_TOKEN or " +
  "NATS_NKEY_SEED_FILE)";

/** `text` as a regular expression that matches it literally. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** Waits for `child` to exit within `timeoutMs`; kills it (by PID) and fails otherwise. */
async function exited(child: MeshProcess, timeoutMs: number): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((
    resolve,
  ) => (timer = setTimeout(() => resolve("late"), timeoutMs)));
  const result = await Promise.race([child.status, late]);
  clearTimeout(timer);
  if (result === "late") {
    child.kill("SIGKILL");
    await child.status;
    assert.fail(`still running after ${timeoutMs} ms:\n${child.output()}`);
  }
  return result;
}

/**
 * Runs a mesh command that must be refused: exit code 1 within {@linkcode REFUSAL_MS}, and its
 * whole output one `error: ...` line, which is returned (without `error: `).
 */
async function refused(args: string[], env: Record<string, string>): Promise<string> {
  await using child = spawnMesh(args, { env });
  const started = performance.now();
  const status = await exited(child, REFUSAL_MS);
  const output = child.output();
  assert.equal(status.code, 1, output);
  const lines = output.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line expected:\n${output}`);
  assert.match(lines[0]!, /^error: /);
  assert.doesNotMatch(output, /^\s+at /m, "no stack trace");
  const ms = Math.round(performance.now() - started);
  assert.ok(ms < REFUSAL_MS, `refused after ${ms} ms`);
  return lines[0]!.slice("error: ".length);
}

/** Asserts that none of `secrets` appears in `text`. */
function assertNoSecret(text: string, secrets: string[]): void {
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), `a secret appears in:\n${text}`);
  }
}

/** `POST /generate` with the seed's request, bounded at 10 s. */
async function generate(port: number): Promise<{ status: number; body: string }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 10_000);
  try {
    const response = await fetch(`http://127.0.0.1:${port}/generate`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ prompt: "test prompt", request_id: "id_number" }),
      signal: controller.signal,
    });
    return { status: response.status, body: await response.text() };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The hello-world mesh across the planes `env` names: the gateway and Processor in one process
 * (`serve --only Frontend,Processor`), the one Worker in another; `POST /generate` must come back
 * with the exact seed body. Both stop on SIGTERM with exit 0; neither prints a secret.
 */
async function helloWorld(
  env: Record<string, string>,
  secrets: string[],
  config = "configs/multi_worker.yaml",
): Promise<void> {
  const port = await freePort();
  await using front = spawnMesh(
    [
      "serve",
      "--config",
      config,
      "--only",
      "Frontend,Processor",
      `--Frontend.port=${port}`,
      "--Processor.min_workers=1",
    ],
    { env: { ...env, MESH_HOSTNAME: "node1" } },
  );
  const base = `http://127.0.0.1:${port}`;
  await untilReady(base);
  await using worker = spawnMesh(
    ["worker", "--config", config, "--instances", "1"],
    { env: { ...env, MESH_HOSTNAME: "node2" } },
  );
  await untilInstances(base, "Worker", 1);
  const { status, body } = await generate(port);
  assert.equal(status, 200, body);
  assert.equal(body, EXPECTED);
  assert.match(front.output(), /cluster planes \(NATS nats:\/\/127\.0\.0\.1:\d+, etcd https?:/);
  worker.kill("SIGTERM");
  front.kill("SIGTERM");
  assert.equal((await exited(worker, 15_000)).code, 0, worker.output());
  assert.equal((await exited(front, 15_000)).code, 0, front.output());
  assertNoSecret(front.output() + worker.output(), secrets);
}

/** `status` must list exactly one live hello-world Worker instance. */
async function listsOneWorker(env: Record<string, string>, args: string[] = []): Promise<void> {
  await using status = spawnMesh(["status", "--namespace", "hello_world", ...args], { env });
  assert.equal((await exited(status, REFUSAL_MS)).code, 0, status.output());
  assert.equal(
    status.output().match(/^hello_world\s+Worker\s+generate\s+\w+\s+node2\s/gm)?.length,
    1,
    status.output(),
  );
}

Deno.test("NATS user/password: refused without them in one line, the mesh answers with them", async () => {
  const password = "s3cret-nats-pass";
  await using nats = await startNatsServer({ args: ["--user", "mesh", "--pass", password] });
  await using etcd = await startEtcd();
  const planes = { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
  const address = `nats://127.0.0.1:${nats.port}`;

  assert.equal(
    await refused(["worker"], planes),
    `Cannot connect to NATS at ${address}: Authorization Violation${NO_CREDENTIALS_HINT}`,
  );
  const wrong = "wr0ng-pass-never-shown";
  const message = await refused(["worker"], {
    ...planes,
    NATS_USER: "mesh",
    NATS_PASSWORD: wrong,
  });
  assert.equal(message, `Cannot connect to NATS at ${address}: Authorization Violation`);
  assertNoSecret(message, [wrong, password]);
  // Half a credential is a config error, before any connection.
  assert.equal(
    await refused(["worker"], { ...planes, NATS_USER: "mesh" }),
    "NATS_USER is set but not the password: set nats.pass or NATS_PASSWORD too",
  );

  await helloWorld({ ...planes, NATS_USER: "mesh", NATS_PASSWORD: password }, [password]);
});

Deno.test("NATS token: refused without it or with a wrong one, the mesh answers with it", async () => {
  const token = "t0ken-of-the-mesh";
  await using nats = await startNatsServer({ args: ["--auth", token] });
  await using etcd = await startEtcd();
  const planes = { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
  const address = `nats://127.0.0.1:${nats.port}`;

  assert.equal(
    await refused(["worker"], planes),
    `Cannot connect to NATS at ${address}: Authorization Violation${NO_CREDENTIALS_HINT}`,
  );
  assert.equal(
    await refused(["worker"], { ...planes, NATS_TOKEN: "not-the-token" }),
    `Cannot connect to NATS at ${address}: Authorization Violation`,
  );
  await helloWorld({ ...planes, NATS_TOKEN: token }, [token]);
});

Deno.test("NATS NKey: a seed file signs in; another key, a missing or bad file is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshwork-nkey-" });
  try {
    const mesh = newUserNkey();
    const stranger = newUserNkey();
    // As `nk -gen user -pubout` writes it: the seed, then the public key.
    await Deno.writeTextFile(`${dir}/mesh.nk`, `${mesh.seed}\n${mesh.publicKey}\n`);
    await Deno.writeTextFile(`${dir}/stranger.nk`, `${stranger.seed}\n`);
    await Deno.writeTextFile(`${dir}/public.txt`, `${mesh.publicKey}\n`);
    await using nats = await startNatsServer({ args: await natsNkeyConfig(dir, [mesh.publicKey]) });
    await using etcd = await startEtcd();
    const planes = { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
    const address = `nats://127.0.0.1:${nats.port}`;

    assert.equal(
      await refused(["worker"], planes),
      `Cannot connect to NATS at ${address}: Authorization Violation${NO_CREDENTIALS_HINT}`,
    );
    const message = await refused(["worker"], {
      ...planes,
      NATS_NKEY_SEED_FILE: `${dir}/stranger.nk`,
    });
    assert.equal(message, `Cannot connect to NATS at ${address}: Authorization Violation`);
    assertNoSecret(message, [stranger.seed]);
    assert.equal(
      await refused(["worker"], { ...planes, NATS_NKEY_SEED_FILE: `${dir}/missing.nk` }),
      `Cannot read the NATS NKey seed file "${dir}/missing.nk": not found`,
    );
    assert.equal(
      await refused(["worker"], { ...planes, NATS_NKEY_SEED_FILE: `${dir}/public.txt` }),
      `Cannot read the NATS NKey seed file "${dir}/public.txt": it holds no user NKey seed (SU...)`,
    );

    await helloWorld({ ...planes, NATS_NKEY_SEED_FILE: `${dir}/mesh.nk` }, [mesh.seed]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("NATS TLS with client certificates: refused without the CA or a certificate, answers with both", async () => {
  await using certs = await makeCertificates();
  await using nats = await startNatsServer({
    args: [
      "--tlsverify",
      "--tlscert",
      certs.serverCertFile,
      "--tlskey",
      certs.serverKeyFile,
      "--tlscacert",
      certs.caFile,
    ],
  });
  await using etcd = await startEtcd();
  const planes = { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
  const address = `nats://127.0.0.1:${nats.port}`;

  assert.equal(
    await refused(["worker"], planes),
    `Cannot connect to NATS at ${address}: unable to verify the first certificate (the ` +
      "server's TLS certificate is not signed by a CA this client trusts: set NATS_CA_FILE to " +
      "the CA that signed it)",
  );
  assert.equal(
    await refused(["worker"], { ...planes, NATS_CA_FILE: `${certs.dir}/missing-ca.pem` }),
    `Cannot read the NATS TLS CA file "${certs.dir}/missing-ca.pem": not found`,
  );
  assert.equal(
    await refused(["worker"], { ...planes, NATS_CA_FILE: certs.clientKeyFile }),
    `Cannot read the NATS TLS CA file "${certs.clientKeyFile}": it holds no PEM CERTIFICATE`,
  );
  // The server verifies clients: with the CA but no certificate, the connection is dropped.
  assert.match(
    await refused(["worker"], { ...planes, NATS_CA_FILE: certs.caFile }),
    new RegExp(
      `^Cannot connect to NATS at ${literal(address)}: .* \\(if the server verifies clients ` +
        "\\(--tlsverify\\), set NATS_CERT_FILE and NATS_KEY_FILE to a client certificate and " +
        "its key\\)$",
    ),
  );

  await helloWorld({
    ...planes,
    NATS_CA_FILE: certs.caFile,
    NATS_CERT_FILE: certs.clientCertFile,
    NATS_KEY_FILE: certs.clientKeyFile,
  }, []);
});

Deno.test("etcd user/password (a least-privilege user): refused without them, works with them", async () => {
  const password = "s3cret-etcd-pass";
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  await enableEtcdAuth(etcd.endpoint, "r00t-pass", [{ name: "mesh", password, prefix: "mesh/" }]);
  const planes = { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };

  assert.equal(
    await refused(["worker"], planes),
    `Cannot read from etcd at ${etcd.endpoint}: 3 INVALID_ARGUMENT: etcdserver: user name is ` +
      "empty (etcd has authentication on: set ETCD_USERNAME and ETCD_PASSWORD)",
  );
  const wrong = "wr0ng-etcd-pass";
  const message = await refused(["status"], {
    ETCD_ENDPOINTS: etcd.endpoint,
    ETCD_USERNAME: "mesh",
    ETCD_PASSWORD: wrong,
  });
  assert.equal(
    message,
    `Cannot log in to etcd at ${etcd.endpoint}: 3 INVALID_ARGUMENT: etcdserver: authentication ` +
      "failed, invalid user ID or password",
  );
  assertNoSecret(message, [wrong, password]);

  const env = { ...planes, ETCD_USERNAME: "mesh", ETCD_PASSWORD: password };
  await using worker = spawnMesh(["worker"], { env: { ...env, MESH_HOSTNAME: "node2" } });
  await worker.waitForOutput(/Instance ready component=Worker/);
  await listsOneWorker(env);
  worker.kill("SIGTERM");
  assert.equal((await exited(worker, 15_000)).code, 0, worker.output());
  assertNoSecret(worker.output(), [password]);
});

Deno.test("a secured deployment: NATS and etcd over TLS with client certificates and passwords, from a config file", async () => {
  const natsPassword = "s3cret-nats-pass";
  const etcdPassword = "s3cret-etcd-pass";
  await using certs = await makeCertificates();
  await using nats = await startNatsServer({
    args: [
      "--user",
      "mesh",
      "--pass",
      natsPassword,
      "--tlsverify",
      "--tlscert",
      certs.serverCertFile,
      "--tlskey",
      certs.serverKeyFile,
      "--tlscacert",
      certs.caFile,
    ],
  });
  await using etcd = await startTlsEtcd(certs, { clientCertAuth: true });
  await enableEtcdAuth(
    etcd.endpoint,
    "r00t-pass",
    [{ name: "mesh", password: etcdPassword, prefix: "mesh/" }],
    etcd.http,
  );
  const hostPort = etcd.endpoint.slice("https://".length);

  // The config file sits next to the certificates and names them relative to itself; the
  // passwords come from the environment.
  const config = `${certs.dir}/secured.yaml`;
  await Deno.writeTextFile(
    config,
    [
      "namespace: hello_world",
      `graph: ${ROOT}examples/hello_world/graph.ts`,
      "nats:",
      `  servers: ${nats.url}`,
      "  user: mesh",
      "  tls:",
      "    ca_file: ca.pem",
      "    cert_file: client.pem",
      "    key_file: client.key",
      "etcd:",
      `  endpoints: ${hostPort}   # no scheme: https, since tls is set`,
      "  username: mesh",
      "  tls: { ca_file: ca.pem, cert_file: client.pem, key_file: client.key }",
      "",
    ].join("\n"),
  );
  const secrets = { NATS_PASSWORD: natsPassword, ETCD_PASSWORD: etcdPassword };

  // Refusals, each naming what is wrong.
  assert.equal(
    await refused(["worker", "--config", config], { NATS_PASSWORD: natsPassword }),
    `${config}:12:3: etcd.username is set but not the password: set etcd.password or ` +
      "ETCD_PASSWORD too",
  );
  assert.match(
    await refused(["status"], { ETCD_ENDPOINTS: etcd.endpoint }),
    new RegExp(
      `^Cannot reach etcd at ${literal(etcd.endpoint)}: .*unable to verify the first ` +
        "certificate.* \\(etcd's TLS certificate is not signed by a CA this client trusts: " +
        "set ETCD_CA_FILE to the CA that signed it\\)$",
    ),
  );
  assert.match(
    await refused(["status"], { ETCD_ENDPOINTS: etcd.endpoint, ETCD_CA_FILE: certs.caFile }),
    new RegExp(
      `^Cannot reach etcd at ${literal(etcd.endpoint)}: .* \\(if etcd verifies clients ` +
        "\\(--client-cert-auth\\), set ETCD_CERT_FILE and ETCD_KEY_FILE to a client " +
        "certificate and its key\\)$",
    ),
  );
  assert.equal(
    await refused(["status"], {
      ETCD_ENDPOINTS: `http://${hostPort}`,
      ETCD_CA_FILE: certs.caFile,
    }),
    `Invalid etcd endpoint "http://${hostPort}": TLS is configured (a CA, certificate or key ` +
      "file), so it must be https://",
  );
  assert.equal(
    await refused(["status"], { ETCD_ENDPOINTS: etcd.endpoint, ETCD_CA_FILE: `${certs.dir}/no` }),
    `Cannot read the etcd TLS CA file "${certs.dir}/no": not found`,
  );

  await helloWorld(secrets, Object.values(secrets), config);

  // `status` over TLS with the client certificate and the password, from the environment only.
  await using worker = spawnMesh(["worker", "--config", config], {
    env: { ...secrets, MESH_HOSTNAME: "node2" },
  });
  await worker.waitForOutput(/Instance ready component=Worker/);
  await listsOneWorker({
    ETCD_ENDPOINTS: etcd.endpoint,
    ETCD_CA_FILE: certs.caFile,
    ETCD_CERT_FILE: certs.clientCertFile,
    ETCD_KEY_FILE: certs.clientKeyFile,
    ETCD_USERNAME: "mesh",
    ETCD_PASSWORD: etcdPassword,
  });
  await listsOneWorker(secrets, ["--config", config]);
  worker.kill("SIGTERM");
  assert.equal((await exited(worker, 15_000)).code, 0, worker.output());
  assertNoSecret(worker.output(), Object.values(secrets));
});
