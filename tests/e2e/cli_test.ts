/**
 * The command line as a user meets it: bad configs, bad options and unreachable planes give one
 * clear line and an exit code, never a stack trace and never a hang.
 */

import assert from "node:assert/strict";
import { spawnMesh } from "../helpers/mesh_process.ts";
import { freePort } from "../helpers/free_port.ts";

async function run(args: string[], env: Record<string, string> = {}) {
  await using child = spawnMesh(args, { env });
  const status = await child.status;
  return { code: status.code, output: child.output() };
}

function assertNoStack(output: string) {
  assert.doesNotMatch(output, /^\s+at .*:\d+:\d+/m, `stack trace in:\n${output}`);
}

Deno.test("serve with a bad config file names the file, line and key, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/bad.yaml`;
    await Deno.writeTextFile(
      file,
      "namespace: hello_world\ngraph: ../examples/hello_world/graph.ts\nProcessor:\n  router: fastest\n",
    );
    const { code, output } = await run(["serve", "--config", file]);
    assert.equal(code, 1);
    assert.match(
      output,
      new RegExp(
        `^error: ${file.replaceAll("/", "\\/")}:4:11: Processor\\.router: expected one of`,
        "m",
      ),
    );
    assertNoStack(output);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve with a missing config file says so, exit 1", async () => {
  const { code, output } = await run(["serve", "--config", "configs/nope.yaml"]);
  assert.equal(code, 1);
  assert.match(output, /^error: Config file "configs\/nope\.yaml" not found$/m);
  assertNoStack(output);
});

Deno.test("an unknown option prints the usage, exit 2", async () => {
  const { code, output } = await run(["serve", "--confg", "x"]);
  assert.equal(code, 2);
  assert.match(output, /^Usage:/m);
  assert.match(output, /^error: Unknown option "--confg"$/m);
});

Deno.test("an override with a bad value names the override, exit 1", async () => {
  const { code, output } = await run([
    "serve",
    "--config",
    "configs/one_worker.yaml",
    "--Processor.min_workers=two",
  ]);
  assert.equal(code, 1);
  assert.match(
    output,
    /^error: --Processor\.min_workers=two: expected an integer >= 0, got "two"$/m,
  );
});

Deno.test("NATS without etcd is refused with what to set, exit 1", async () => {
  const { code, output } = await run(["worker"], { NATS_SERVER: "nats://127.0.0.1:4222" });
  assert.equal(code, 1);
  assert.match(output, /^error: NATS is configured but etcd is not: set ETCD_ENDPOINTS/m);
});

Deno.test("an unreachable NATS fails fast with its address, exit 1", async () => {
  const port = await freePort();
  const { code, output } = await run(["worker"], {
    NATS_SERVER: `nats://127.0.0.1:${port}`,
    ETCD_ENDPOINTS: `http://127.0.0.1:${port}`,
  });
  assert.equal(code, 1);
  assert.match(
    output,
    new RegExp(`^error: Cannot connect to NATS at nats://127\\.0\\.0\\.1:${port}`, "m"),
  );
  assertNoStack(output);
});

Deno.test("status without a registry explains what it needs, exit 1", async () => {
  const { code, output } = await run(["status"]);
  assert.equal(code, 1);
  assert.match(output, /^error: status reads the cluster registry: set ETCD_ENDPOINTS/m);
});
