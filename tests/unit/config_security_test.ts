/**
 * Tests of the credential and TLS keys of `nats:` and `etcd:` in the config loader, and of their
 * environment variables: what resolves, what beats what, and the exact message of each mistake
 * (file, line, column and key, or the variable; never a secret).
 *
 * @module
 */

import assert from "node:assert/strict";
import { ConfigError } from "../../configs/config_error.ts";
import { ETCD_ENV, NATS_ENV } from "../../configs/plane_settings.ts";
import { parseConfigText } from "../../configs/yaml_document.ts";
import { resolveConfig, type ResolvedConfig } from "../../configs/resolve.ts";

const FILE = "/srv/mesh/configs/x.yaml";
const SECRET = "s3cret-Do-Not-Show";

function load(text: string, env: Record<string, string | undefined> = {}): ResolvedConfig {
  return resolveConfig(parseConfigText(text, FILE), {}, { env });
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${error}`);
    return error.message;
  }
  assert.fail("no error");
}

Deno.test("nats: and etcd: take credentials and TLS files; relative paths follow the file", () => {
  const config = load(
    [
      "nats:",
      "  servers: [nats://a:4222]",
      "  nkey_seed_file: secrets/mesh.nk",
      "  tls:",
      "    ca_file: ../pki/ca.pem",
      "    cert_file: /etc/mesh/client.pem",
      "    key_file: /etc/mesh/client.key",
      "etcd:",
      "  endpoints: https://e:2379",
      "  username: mesh",
      `  password: "${SECRET}"`,
      "  tls:",
      "    ca_file: ca.pem",
      "",
    ].join("\n"),
  );
  assert.deepEqual(config.nats, {
    servers: ["nats://a:4222"],
    nkeySeedFile: "/srv/mesh/configs/secrets/mesh.nk",
    tls: {
      caFile: "/srv/mesh/pki/ca.pem",
      certFile: "/etc/mesh/client.pem",
      keyFile: "/etc/mesh/client.key",
    },
  });
  assert.deepEqual(config.etcd, {
    endpoints: ["https://e:2379"],
    username: "mesh",
    password: SECRET,
    tls: { caFile: "/srv/mesh/configs/ca.pem" },
  });
});

Deno.test("tls: {} asks for TLS with the system's CAs; no tls key means none", () => {
  const config = load("nats:\n  servers: a:4222\n  tls: {}\netcd: http://e:2379\n");
  assert.deepEqual(config.nats, { servers: ["a:4222"], tls: {} });
  assert.deepEqual(config.etcd, { endpoints: ["http://e:2379"] });
  assert.equal("tls" in config.etcd!, false);
});

Deno.test("every credential and TLS key has its variable, named consistently", () => {
  assert.deepEqual(NATS_ENV, {
    user: "NATS_USER",
    pass: "NATS_PASSWORD",
    token: "NATS_TOKEN",
    nkey_seed_file: "NATS_NKEY_SEED_FILE",
    "tls.ca_file": "NATS_CA_FILE",
    "tls.cert_file": "NATS_CERT_FILE",
    "tls.key_file": "NATS_KEY_FILE",
  });
  assert.deepEqual(ETCD_ENV, {
    username: "ETCD_USERNAME",
    password: "ETCD_PASSWORD",
    "tls.ca_file": "ETCD_CA_FILE",
    "tls.cert_file": "ETCD_CERT_FILE",
    "tls.key_file": "ETCD_KEY_FILE",
  });
});

Deno.test("the environment beats the file one key at a time", () => {
  const text = [
    "nats:",
    "  servers: nats://file:4222",
    "  user: file-user",
    "  pass: file-pass",
    "  tls:",
    "    ca_file: file-ca.pem",
    "etcd:",
    "  endpoints: file:2379",
    "  username: file-user",
    "  password: file-pass",
    "",
  ].join("\n");
  const config = load(text, {
    NATS_PASSWORD: "env-pass",
    NATS_CA_FILE: "env/ca.pem",
    NATS_CERT_FILE: "/env/client.pem",
    NATS_KEY_FILE: "/env/client.key",
    ETCD_USERNAME: "env-user",
    ETCD_PASSWORD: "env-pass",
    ETCD_CA_FILE: "/env/etcd-ca.pem",
  });
  assert.deepEqual(config.nats, {
    servers: ["nats://file:4222"],
    user: "file-user",
    pass: "env-pass",
    // A path from the environment is taken as it is (relative to the working directory).
    tls: { caFile: "env/ca.pem", certFile: "/env/client.pem", keyFile: "/env/client.key" },
  });
  assert.deepEqual(config.etcd, {
    endpoints: ["file:2379"],
    username: "env-user",
    password: "env-pass",
    tls: { caFile: "/env/etcd-ca.pem" },
  });
});

Deno.test("the environment alone configures credentials and TLS; empty variables are unset", () => {
  const config = load("", {
    NATS_SERVER: "nats://n:4222",
    NATS_TOKEN: SECRET,
    NATS_USER: "",
    ETCD_ENDPOINTS: "https://e:2379",
    ETCD_CERT_FILE: "/pki/c.pem",
    ETCD_KEY_FILE: "/pki/c.key",
    ETCD_USERNAME: "",
  });
  assert.deepEqual(config.nats, { servers: ["nats://n:4222"], token: SECRET });
  assert.deepEqual(config.etcd, {
    endpoints: ["https://e:2379"],
    tls: { certFile: "/pki/c.pem", keyFile: "/pki/c.key" },
  });
});

Deno.test("credential variables alone do not make a cluster (embedded mode stays embedded)", () => {
  const config = load("", {
    NATS_USER: "u",
    NATS_PASSWORD: "p",
    NATS_CA_FILE: "/ca.pem",
    ETCD_USERNAME: "u",
    ETCD_PASSWORD: "p",
  });
  assert.equal(config.nats, undefined);
  assert.equal(config.etcd, undefined);
});

Deno.test("a bad credential or TLS key names file, line, column and key", () => {
  const cases: [string, string][] = [
    [
      "nats:\n  servers: a:4222\n  password: x\n",
      `${FILE}:3:3: unknown key "nats.password"; expected one of servers, user, pass, token, ` +
      "nkey_seed_file, tls",
    ],
    [
      "etcd:\n  endpoints: a:2379\n  tls:\n    ca: ca.pem\n",
      `${FILE}:4:5: unknown key "etcd.tls.ca"; expected one of ca_file, cert_file, key_file`,
    ],
    [
      "nats:\n  servers: a:4222\n  tls: true\n",
      `${FILE}:3:8: nats.tls: expected a mapping of ca_file, cert_file, key_file ({} for TLS ` +
      "with the system's CAs), got true",
    ],
    [
      "nats:\n  servers: a:4222\n  tls:\n    ca_file: 3\n",
      `${FILE}:4:14: nats.tls.ca_file: expected a string, got 3`,
    ],
    [
      'etcd:\n  endpoints: a:2379\n  tls:\n    key_file: ""\n',
      `${FILE}:4:15: etcd.tls.key_file: expected a file path, got ""`,
    ],
    [
      "nats:\n  servers: a:4222\n  user: [a]\n",
      `${FILE}:3:9: nats.user: expected a string, got ["a"]`,
    ],
  ];
  for (const [text, message] of cases) assert.equal(errorOf(() => load(text)), message);
});

Deno.test("a password or token of the wrong type is reported without its value", () => {
  const cases: [string, string][] = [
    ["nats:\n  servers: a:4222\n  user: u\n  pass: 12345678\n", "nats.pass"],
    ["nats:\n  servers: a:4222\n  token: 0x5ec\n", "nats.token"],
    ["etcd:\n  endpoints: a:2379\n  username: u\n  password: 987654\n", "etcd.password"],
  ];
  for (const [text, key] of cases) {
    const message = errorOf(() => load(text));
    assert.match(
      message,
      new RegExp(
        `^${FILE}:\\d+:\\d+: ${key}: expected a string, got a number \\(put it in quotes\\)$`,
      ),
    );
    for (const digits of ["12345678", "0x5ec", "1516", "987654"]) {
      assert.ok(!message.includes(digits), message);
    }
  }
  assert.equal(
    errorOf(() => load("nats:\n  servers: a:4222\n  pass:\n")),
    `${FILE}:3:8: nats.pass: expected a string, got nothing`,
  );
});

Deno.test("a user needs a password and a certificate its key, wherever each comes from", () => {
  const cases: [string, Record<string, string>, string][] = [
    [
      "nats:\n  servers: a:4222\n  user: mesh\n",
      {},
      `${FILE}:3:3: nats.user is set but not the password: set nats.pass or NATS_PASSWORD too`,
    ],
    [
      "nats: a:4222\n",
      { NATS_PASSWORD: SECRET },
      "NATS_PASSWORD is set but not the user name: set nats.user or NATS_USER too",
    ],
    [
      "etcd:\n  endpoints: a:2379\n  password: x\n",
      {},
      `${FILE}:3:3: etcd.password is set but not the user name: set etcd.username or ` +
      "ETCD_USERNAME too",
    ],
    [
      "etcd: a:2379\n",
      { ETCD_USERNAME: "mesh" },
      "ETCD_USERNAME is set but not the password: set etcd.password or ETCD_PASSWORD too",
    ],
    [
      "nats:\n  servers: a:4222\n  tls:\n    cert_file: c.pem\n",
      {},
      `${FILE}:4:5: nats.tls.cert_file is set but not the key: set nats.tls.key_file or ` +
      "NATS_KEY_FILE too",
    ],
    [
      "etcd: a:2379\n",
      { ETCD_KEY_FILE: "/k.pem" },
      "ETCD_KEY_FILE is set but not the certificate: set etcd.tls.cert_file or ETCD_CERT_FILE too",
    ],
  ];
  for (const [text, env, message] of cases) {
    assert.equal(errorOf(() => load(text, env)), message);
  }
  // The other half from the environment completes the file's half.
  assert.deepEqual(
    load("nats:\n  servers: a:4222\n  user: mesh\n", { NATS_PASSWORD: SECRET }).nats,
    { servers: ["a:4222"], user: "mesh", pass: SECRET },
  );
});

Deno.test("NATS takes one kind of credentials; the message names where each came from", () => {
  assert.equal(
    errorOf(() =>
      load("nats:\n  servers: a:4222\n  token: t\n", { NATS_USER: "u", NATS_PASSWORD: SECRET })
    ),
    `${FILE}:3:3: NATS credentials: NATS_USER and nats.token are both set; use one kind (a user ` +
      "and password, a token or an NKey seed file)",
  );
  assert.equal(
    errorOf(() =>
      load("", {
        NATS_SERVER: "a:4222",
        NATS_USER: "u",
        NATS_PASSWORD: SECRET,
        NATS_TOKEN: SECRET,
        NATS_NKEY_SEED_FILE: "/seed.nk",
      })
    ),
    "NATS credentials: NATS_USER and NATS_TOKEN and NATS_NKEY_SEED_FILE are all set; use one " +
      "kind (a user and password, a token or an NKey seed file)",
  );
});

Deno.test("no loader message ever shows a password or token", () => {
  const texts = [
    `nats:\n  servers: a:4222\n  pass: "${SECRET}"\n`,
    `nats:\n  servers: a:4222\n  token: "${SECRET}"\n  user: u\n  pass: "${SECRET}"\n`,
    `etcd:\n  endpoints: a:2379\n  password: "${SECRET}"\n`,
    `nats:\n  servers: a:4222\n  pass: "${SECRET}"\n  bogus: 1\n`,
  ];
  for (const text of texts) {
    const message = errorOf(() => load(text, { NATS_TOKEN: SECRET }));
    assert.ok(!message.includes(SECRET), message);
  }
});
