/**
 * Tests of the config schema and loader (`actors/config_schema.ts`, `configs/`) with fake
 * component schemas: what resolves, and the exact message of each mistake.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { ConfigError } from "../../configs/config_error.ts";
import { parseConfigText, readConfigFile } from "../../configs/yaml_document.ts";
import { resolveConfig, type ResolveOptions } from "../../configs/resolve.ts";
import {
  boolean,
  type ConfigValues,
  defineSchema,
  integer,
  number,
  string,
  stringList,
} from "../../actors/config_schema.ts";

/** The default `ServiceArgs` with `workers` set. */
const args = (workers: number) => ({
  workers,
  max_inflight: 0,
  restart: "permanent",
  max_restarts: 5,
  restart_period_s: 10,
  processes: false,
  queue: false,
  max_deliver: 3,
  ack_wait_s: 10,
});

const frontend = defineSchema({
  port: integer({ default: 8000, min: 1, max: 65535 }),
  host: string({ default: "0.0.0.0" }),
});

const processor = defineSchema({
  router: string({
    default: "random",
    enum: ["random", "round_robin", "least_loaded"],
    aliases: { "round-robin": "round_robin" },
  }),
  min_workers: integer({ default: 1, min: 0 }),
  tags: stringList({ default: [] }),
  verbose: boolean({ default: false }),
  timeout: number({ min: 0 }),
}, { min_worker: "min_workers" });

const worker = defineSchema({ greeting: string({ default: "Hello" }) });

const components = { Frontend: frontend, Processor: processor, Worker: worker };

const HELLO = `namespace: hello_world
graph: ../examples/hello_world/graph.ts
Frontend:
  port: 8000
Processor:
  router: round-robin
  min_worker: 2
Worker:
  ServiceArgs:
    workers: 2
`;

function load(text: string, options?: ResolveOptions) {
  return resolveConfig(parseConfigText(text, "configs/x.yaml"), components, options);
}

/** The message of the `ConfigError` that `fn` throws. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    assert.equal(error.name, "ConfigError");
    return error.message;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("resolveConfig() applies key and value aliases and fills defaults", () => {
  const config = resolveConfig(parseConfigText(HELLO, "configs/hello.yaml"), components);
  assert.deepEqual(config, {
    file: "configs/hello.yaml",
    namespace: "hello_world",
    graph: resolve("examples/hello_world/graph.ts"),
    components: {
      Frontend: {
        values: { port: 8000, host: "0.0.0.0" },
        workers: 1,
        maxInflight: 0,
        serviceArgs: args(1),
      },
      Processor: {
        values: {
          router: "round_robin",
          min_workers: 2,
          tags: [],
          verbose: false,
          timeout: undefined,
        },
        workers: 1,
        maxInflight: 0,
        serviceArgs: args(1),
      },
      Worker: { values: { greeting: "Hello" }, workers: 2, maxInflight: 0, serviceArgs: args(2) },
    },
  });
});

Deno.test("ConfigValues infers the section type from the schema", () => {
  const values = load(HELLO).components.Processor!.values as ConfigValues<typeof processor>;
  const router: "random" | "round_robin" | "least_loaded" = values.router;
  const minWorkers: number = values.min_workers;
  const timeout: number | undefined = values.timeout;
  assert.deepEqual([router, minWorkers, timeout], ["round_robin", 2, undefined]);
});

Deno.test("parseConfigText() accepts an empty file and a file of comments", () => {
  for (const text of ["", "# nothing here\n"]) {
    const config = load(text);
    assert.equal(config.namespace, "meshwork");
    assert.equal(config.nats, undefined);
    assert.deepEqual(config.components.Worker, {
      values: { greeting: "Hello" },
      workers: 1,
      maxInflight: 0,
      serviceArgs: args(1),
    });
  }
});

Deno.test("readConfigFile() reads a file and reports a missing one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "hello.yaml");
    await Deno.writeTextFile(path, HELLO);
    const doc = await readConfigFile(path);
    assert.equal(doc.file, path);
    assert.equal(doc.graph, resolve(dir, "../examples/hello_world/graph.ts"));
    await assert.rejects(
      () => readConfigFile("configs/nope.yaml"),
      (error: Error) =>
        error instanceof ConfigError &&
        error.message === 'Config file "configs/nope.yaml" not found',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseConfigText() names the line and column of a YAML syntax error", () => {
  assert.equal(
    errorOf(() => load("Processor:\n  router: [random\n  min_workers: 2\n")),
    "configs/x.yaml:3:3: Flow sequence in block collection must be sufficiently indented and end with a ]",
  );
  assert.equal(
    errorOf(() => load("Worker: {}\nWorker: {}\n")),
    "configs/x.yaml:2:1: Map keys must be unique",
  );
});

Deno.test("resolveConfig() rejects an unknown top-level key with the allowed names", () => {
  assert.equal(
    errorOf(() => load("namespace: ns\n\nProcesor:\n  router: random\n")),
    'configs/x.yaml:3:1: unknown key "Procesor"; expected one of namespace, graph, nats, etcd, ' +
      "log_level, metrics_port_base, data_plane, telemetry, Frontend, Processor, Worker",
  );
});

Deno.test("resolveConfig() names file, line, column and dotted key of a bad section", () => {
  const cases: [string, string][] = [
    [
      "Processor:\n  routr: random\n",
      'configs/x.yaml:2:3: unknown key "Processor.routr"; ' +
      "expected one of router, min_workers, tags, verbose, timeout, ServiceArgs",
    ],
    [
      "Processor:\n  router: random\n  min_workers: two\n",
      'configs/x.yaml:3:16: Processor.min_workers: expected an integer >= 0, got "two"',
    ],
    [
      "Processor:\n  min_worker: -1\n",
      "configs/x.yaml:2:15: Processor.min_workers: expected an integer >= 0, got -1",
    ],
    [
      "Processor:\n  router: fastest\n",
      'configs/x.yaml:2:11: Processor.router: expected one of "random", "round_robin", ' +
      '"least_loaded", got "fastest"',
    ],
    [
      "Processor:\n  min_worker: 2\n  min_workers: 3\n",
      'configs/x.yaml:3:3: Processor: "min_worker" is another name for "min_workers", ' +
      "which is also set; keep one",
    ],
    [
      "Processor:\n  verbose: yes\n",
      'configs/x.yaml:2:12: Processor.verbose: expected a boolean (true or false), got "yes"',
    ],
    [
      "Processor:\n  tags: [a, 1]\n",
      "configs/x.yaml:2:9: Processor.tags: expected a list of strings or a comma-separated " +
      'string, got ["a",1]',
    ],
    [
      "Worker:\n  constructor: x\n",
      'configs/x.yaml:2:3: unknown key "Worker.constructor"; expected one of greeting, ServiceArgs',
    ],
    [
      "Frontend:\n  port: 70000\n",
      "configs/x.yaml:2:9: Frontend.port: expected an integer between 1 and 65535, got 70000",
    ],
    ["Frontend: 8000\n", "configs/x.yaml:1:11: Frontend: expected a mapping, got 8000"],
    [
      "Worker:\n  ServiceArgs:\n    workers: 0\n",
      "configs/x.yaml:3:14: Worker.ServiceArgs.workers: expected an integer >= 1, got 0",
    ],
    [
      "Worker:\n  ServiceArgs:\n    replicas: 2\n",
      'configs/x.yaml:3:5: unknown key "Worker.ServiceArgs.replicas"; expected one of workers, max_inflight, restart, max_restarts, restart_period_s, processes, queue, max_deliver, ack_wait_s',
    ],
  ];
  for (const [text, message] of cases) assert.equal(errorOf(() => load(text)), message);
});

Deno.test("parseConfigText() checks namespace, graph, log_level, nats and etcd", () => {
  const cases: [string, string][] = [
    [
      "namespace: hello world\n",
      'configs/x.yaml:1:12: namespace: invalid name "hello world"; ' +
      'use letters, digits, "_" and "-" only',
    ],
    ["graph: 3\n", "configs/x.yaml:1:8: graph: expected a string, got 3"],
    [
      "log_level: loud\n",
      'configs/x.yaml:1:12: log_level: expected one of debug, info, warn, error, got "loud"',
    ],
    [
      "nats:\n  servers: []\n",
      "configs/x.yaml:2:12: nats.servers: expected a URL, a comma-separated list or a list of " +
      "URLs, got []",
    ],
    [
      "etcd:\n  endpoints: http://a:2379\n  user: me\n",
      'configs/x.yaml:3:3: unknown key "etcd.user"; expected one of endpoints, username, password, tls',
    ],
    ["etcd:\n  username: me\n", 'configs/x.yaml:2:3: etcd: missing key "endpoints"'],
    ["- a\n- b\n", 'configs/x.yaml:1:1: expected a mapping of top-level keys, got ["a","b"]'],
  ];
  for (const [text, message] of cases) assert.equal(errorOf(() => load(text)), message);
});

Deno.test("parseConfigText() accepts nats and etcd as URL, comma list, list or mapping", () => {
  assert.deepEqual(load("nats: nats://a:4222\n").nats, { servers: ["nats://a:4222"] });
  assert.deepEqual(load("nats: nats://a:4222, nats://b:4222\n").nats, {
    servers: ["nats://a:4222", "nats://b:4222"],
  });
  assert.deepEqual(load("etcd:\n  - http://a:2379\n  - http://b:2379\n").etcd, {
    endpoints: ["http://a:2379", "http://b:2379"],
  });
  const text = "nats:\n  servers: nats://a:4222\n  user: u\n  pass: p\n" +
    "etcd:\n  endpoints: [http://a:2379]\n  username: u\n  password: p\n";
  const config = load(text);
  assert.deepEqual(config.nats, { servers: ["nats://a:4222"], user: "u", pass: "p" });
  assert.deepEqual(config.etcd, { endpoints: ["http://a:2379"], username: "u", password: "p" });
});

Deno.test("resolveConfig() lets NATS_SERVER and ETCD_ENDPOINTS beat the file", () => {
  const text = "nats:\n  servers: nats://file:4222\n  token: t\netcd: http://file:2379\n";
  const env = { NATS_SERVER: "nats://n1:4222,nats://n2:4222", ETCD_ENDPOINTS: "http://e:2379" };
  const config = load(text, { env });
  assert.deepEqual(config.nats, { servers: ["nats://n1:4222", "nats://n2:4222"], token: "t" });
  assert.deepEqual(config.etcd, { endpoints: ["http://e:2379"] });
  assert.deepEqual(load("", { env }).etcd, { endpoints: ["http://e:2379"] });
  assert.deepEqual(load(text, { env: { NATS_SERVER: "" } }).nats?.servers, ["nats://file:4222"]);
});

Deno.test("resolveConfig() converts overrides to the field type and lets them beat the file", () => {
  const config = load(HELLO, {
    overrides: [
      "--Processor.router=random",
      "--Processor.min_worker=5",
      "--Processor.verbose=true",
      "--Processor.tags=a, b",
      "--Processor.timeout=2.5",
      "--Worker.ServiceArgs.workers=3",
      "--Worker.greeting=Goodnight",
    ],
  });
  assert.deepEqual(config.components.Processor, {
    values: { router: "random", min_workers: 5, tags: ["a", "b"], verbose: true, timeout: 2.5 },
    workers: 1,
    maxInflight: 0,
    serviceArgs: args(1),
  });
  assert.deepEqual(config.components.Worker, {
    values: { greeting: "Goodnight" },
    workers: 3,
    maxInflight: 0,
    serviceArgs: args(3),
  });
  const aliased = load("", { overrides: ["--Processor.router=round-robin"] });
  assert.equal(aliased.components.Processor!.values.router, "round_robin");
});

Deno.test("resolveConfig() names the override that is wrong", () => {
  const cases: [string, string][] = [
    [
      "--Processor.min_workers=abc",
      '--Processor.min_workers=abc: expected an integer >= 0, got "abc"',
    ],
    ["--Processor.verbose=1", '--Processor.verbose=1: expected a boolean (true or false), got "1"'],
    [
      "--Processor.router=fast",
      '--Processor.router=fast: expected one of "random", "round_robin", "least_loaded", got "fast"',
    ],
    [
      "--Procesor.router=random",
      '--Procesor.router=random: unknown component "Procesor"; expected one of Frontend, ' +
      "Processor, Worker",
    ],
    [
      "--Worker.ServiceArgs.replicas=2",
      '--Worker.ServiceArgs.replicas=2: unknown key "Worker.ServiceArgs.replicas"; ' +
      "expected one of greeting, ServiceArgs.workers, ServiceArgs.max_inflight, ServiceArgs.restart, ServiceArgs.max_restarts, ServiceArgs.restart_period_s, ServiceArgs.processes, ServiceArgs.queue, ServiceArgs.max_deliver, ServiceArgs.ack_wait_s",
    ],
    [
      "--Worker.ServiceArgs.workers=0",
      '--Worker.ServiceArgs.workers=0: expected an integer >= 1, got "0"',
    ],
    ["--Processor.router", "--Processor.router: expected an override like --Component.key=value"],
  ];
  for (const [override, message] of cases) {
    assert.equal(errorOf(() => load(HELLO, { overrides: [override] })), message);
  }
});

Deno.test("defineSchema() rejects a default that fails its own field", () => {
  assert.throws(
    () => defineSchema({ n: integer({ default: -1, min: 0 }) }),
    new TypeError('Invalid default for config field "n": expected an integer >= 0'),
  );
  assert.throws(
    () => defineSchema({ ServiceArgs: integer() }),
    new TypeError('Invalid config field name "ServiceArgs"'),
  );
});
