/**
 * The secured planes at the API level (`connectNatsBus`, `connectEtcdRegistry`): files that
 * cannot be used are errors naming them, before any connection; TLS checks the server's
 * certificate against the address dialled (Deno's `node:tls` needs help there for both clients);
 * an etcd client certificate signs in as its CN when etcd has authentication on.
 *
 * The end-to-end side (processes, environment, refusal lines) is `tests/e2e/secured_cluster_test.ts`.
 */

import assert from "node:assert/strict";
import { connectNatsBus } from "../../planes/nats/connect.ts";
import { connectEtcdRegistry, EtcdRegistry } from "../../planes/etcd/etcd_registry.ts";
import { parseEtcdEndpoints } from "../../planes/etcd/endpoints.ts";
import { silentLogger } from "../../utils/logger.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { enableEtcdAuth, makeCertificates, startTlsEtcd } from "../helpers/secure_servers.ts";

Deno.test("parseEtcdEndpoints() with TLS: no scheme means https, http:// is refused", () => {
  assert.deepEqual(parseEtcdEndpoints("a:2379, https://b", { tls: true }), [
    "https://a:2379",
    "https://b:2379",
  ]);
  assert.throws(
    () => parseEtcdEndpoints("http://a:2379", { tls: true }),
    /^TypeError: Invalid etcd endpoint "http:\/\/a:2379": TLS is configured .* must be https:\/\/$/,
  );
  assert.deepEqual(parseEtcdEndpoints("a"), ["http://a:2379"]);
});

Deno.test("connectNatsBus() names a file it cannot use, and refuses two kinds of credentials", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshwork-planes-" });
  try {
    await Deno.writeTextFile(`${dir}/not-pem.txt`, "hello\n");
    // Nothing listens there: every check below happens before any connection.
    const servers = "nats://127.0.0.1:1";
    const cases: [Parameters<typeof connectNatsBus>[0], RegExp][] = [
      [
        { servers, tls: { caFile: `${dir}/none.pem` } },
        new RegExp(`^Error: Cannot read the NATS TLS CA file "${dir}/none\\.pem": not found$`),
      ],
      [
        { servers, tls: { caFile: dir } },
        /^Error: Cannot read the NATS TLS CA file ".*": /,
      ],
      [
        { servers, tls: { certFile: `${dir}/not-pem.txt`, keyFile: `${dir}/not-pem.txt` } },
        /^Error: Cannot read the NATS TLS certificate file ".*not-pem\.txt": it holds no PEM CERTIFICATE$/,
      ],
      [
        { servers, tls: { certFile: `${dir}/c.pem` } },
        /^TypeError: Cannot connect to NATS: a TLS client certificate needs its key/,
      ],
      [
        { servers, nkeySeedFile: `${dir}/not-pem.txt` },
        /^Error: Cannot read the NATS NKey seed file ".*": it holds no user NKey seed \(SU\.\.\.\)$/,
      ],
      [
        { servers, user: "u", pass: "p", token: "t" },
        /^TypeError: Cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: give one kind of credentials, not a user and password and a token$/,
      ],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(connectNatsBus({ ...options, logger: silentLogger }), message);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EtcdRegistry names a TLS file it cannot use", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshwork-planes-" });
  try {
    await Deno.writeTextFile(`${dir}/cert.pem`, "-----BEGIN CERTIFICATE-----\n");
    const endpoints = "127.0.0.1:1";
    assert.throws(
      () => new EtcdRegistry({ endpoints, tls: { caFile: `${dir}/none.pem` } }),
      new RegExp(`^Error: Cannot read the etcd TLS CA file "${dir}/none\\.pem": not found$`),
    );
    assert.throws(
      () =>
        new EtcdRegistry({
          endpoints,
          tls: { certFile: `${dir}/cert.pem`, keyFile: `${dir}/cert.pem` },
        }),
      /^Error: Cannot read the etcd TLS key file ".*cert\.pem": it holds no PEM PRIVATE KEY$/,
    );
    assert.throws(
      () => new EtcdRegistry({ endpoints, tls: { keyFile: `${dir}/cert.pem` } }),
      /^TypeError: etcd TLS: a client certificate needs its key/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TLS checks the certificate against the address dialled (NATS and etcd)", async () => {
  // The server certificate names the address 127.0.0.1 only.
  await using certs = await makeCertificates();
  const tls = {
    caFile: certs.caFile,
    certFile: certs.clientCertFile,
    keyFile: certs.clientKeyFile,
  };
  await using nats = await startNatsServer({
    args: ["--tls", "--tlscert", certs.serverCertFile, "--tlskey", certs.serverKeyFile],
  });
  const bus = await connectNatsBus({ servers: nats.url, tls, logger: silentLogger });
  await bus.close();
  await assert.rejects(
    connectNatsBus({
      servers: `nats://localhost:${nats.port}`,
      tls,
      timeoutMs: 3000,
      logger: silentLogger,
    }),
    /^Error: Cannot connect to NATS at nats:\/\/localhost:\d+: .*(does not match|altnames)/,
  );

  await using etcd = await startTlsEtcd(certs);
  const registry = await connectEtcdRegistry({
    endpoints: etcd.endpoint,
    tls,
    logger: silentLogger,
  });
  await registry.close();
  await assert.rejects(
    connectEtcdRegistry({
      endpoints: `https://localhost:${etcd.endpoint.split(":").at(-1)}`,
      tls,
      dialTimeoutMs: 3000,
      logger: silentLogger,
    }),
    /^Error: Cannot reach etcd at https:\/\/localhost:\d+: .*(does not match|altnames)/,
  );
});

Deno.test("connectNatsBus() survives a server that verifies clients refusing one without a certificate", async () => {
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
  // The server's alert can come in the same read as the end of the handshake, when nats.js has
  // just removed every listener: that used to kill the process ("Uncaught Error: received fatal
  // alert: BadCertificate") within a few attempts. nats.js then notices nothing until its connect
  // timeout, hence the short one.
  for (let attempt = 0; attempt < 30; attempt++) {
    await assert.rejects(
      connectNatsBus({
        servers: nats.url,
        tls: { caFile: certs.caFile },
        timeoutMs: 150,
        logger: silentLogger,
      }),
      /^Error: Cannot connect to NATS at .*: no answer within 150ms \(if the server verifies clients \(--tlsverify\), set NATS_CERT_FILE and NATS_KEY_FILE to a client certificate and its key\)$/,
    );
  }
  const bus = await connectNatsBus({
    servers: nats.url,
    tls: { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile },
    logger: silentLogger,
  });
  await bus.close();
});

Deno.test("an etcd user without access to mesh/ is refused when it connects", async () => {
  await using etcd = await startEtcd();
  await enableEtcdAuth(etcd.endpoint, "r00t", [{
    name: "other",
    password: "pw",
    prefix: "other/",
  }]);
  await assert.rejects(
    connectEtcdRegistry({
      endpoints: etcd.endpoint,
      username: "other",
      password: "pw",
      logger: silentLogger,
    }),
    (error: Error) => {
      assert.equal(
        error.message,
        `Cannot read from etcd at ${etcd.endpoint}: 7 PERMISSION_DENIED: etcdserver: permission ` +
          'denied (the user needs read and write access to the "mesh/" prefix)',
      );
      return true;
    },
  );
});

Deno.test("etcd with client-cert-auth and authentication on: a client certificate plus the user's password", async () => {
  await using certs = await makeCertificates();
  await using etcd = await startTlsEtcd(certs, { clientCertAuth: true });
  // The user "mesh" may use mesh/ only.
  await enableEtcdAuth(
    etcd.endpoint,
    "r00t",
    [{ name: "mesh", password: "pw", prefix: "mesh/" }],
    etcd.http,
  );
  const registry = await connectEtcdRegistry({
    endpoints: etcd.endpoint,
    username: "mesh",
    password: "pw",
    tls: { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile },
    logger: silentLogger,
  });
  try {
    const lease = await registry.grantLease(5);
    await registry.put("mesh/a", "1", lease);
    assert.deepEqual((await registry.getPrefix("mesh/")).kvs, [{ key: "mesh/a", value: "1" }]);
    await assert.rejects(registry.put("other/a", "1"), /permission denied/);
    await registry.revokeLease(lease);
  } finally {
    await registry.close();
  }
});
