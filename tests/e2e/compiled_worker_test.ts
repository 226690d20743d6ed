/**
 * The single-binary worker, end to end, against a real nats-server and etcd.
 *
 * The worker entrypoint (`bin/worker.ts`) is always run through `deno run` with exactly the flags
 * the compile task bakes into the binary (`MESH_PERMISSIONS`): `--help`, registering in etcd,
 * answering a request from another process's runtime, and SIGTERM → exit 0. Where a `denort`
 * runtime is at hand (`DENORT_BIN`, or Deno's cache), `deno task compile` builds the binaries and
 * the same checks run against `meshwork-worker`; otherwise that test is ignored and its name says
 * why. The compile task's "no runtime" message is checked everywhere.
 *
 * @module
 */

import assert from "node:assert/strict";
import { MESH_PERMISSIONS } from "../../bin/permissions.ts";
import { connectEtcdRegistry, type EtcdRegistry } from "../../planes/etcd/etcd_registry.ts";
import { connectNatsBus } from "../../planes/nats/connect.ts";
import { instancePrefix } from "../../protocol/names.ts";
import { MESHWORK_VERSION, Runtime } from "../../runtime/runtime.ts";
import { denortHint, findDenort } from "../../scripts/compile.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { eventually } from "../helpers/eventually.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const WORKERS = instancePrefix({
  namespace: "hello_world",
  component: "Worker",
  endpoint: "generate",
});
const HOSTNAME = "compiled-node";

/** The worker entrypoint through `deno run`, with the flags of the compiled binary. */
const DENO_RUN_WORKER = [Deno.execPath(), "run", ...MESH_PERMISSIONS, `${ROOT}bin/worker.ts`];

async function workerKeys(registry: EtcdRegistry): Promise<Record<string, unknown>[]> {
  const { kvs } = await registry.getPrefix(WORKERS);
  return kvs.map((kv) => JSON.parse(kv.value));
}

/** `<program> --help`: exit 0, the usage on stdout. */
async function checkHelp(program: string[]): Promise<void> {
  await using process = spawnMesh(["--help"], { program });
  const status = await process.status;
  assert.equal(status.code, 0, process.output());
  assert.match(
    process.output(),
    new RegExp(`^meshwork ${MESHWORK_VERSION.replaceAll(".", "\\.")}:`),
  );
  assert.match(process.output(), /meshwork worker \[--config FILE\]/);
}

/**
 * `<program>` as a cluster worker: it registers under `mesh/hello_world/instances/Worker/generate/`,
 * answers a request made through a runtime in this process, and on SIGTERM deregisters and exits 0.
 */
async function checkClusterWorker(program: string[]): Promise<void> {
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  const registry = await connectEtcdRegistry({ endpoints: etcd.endpoint });
  const bus = await connectNatsBus({ servers: nats.url });
  const runtime = new Runtime({ bus, registry, namespace: "hello_world" });
  try {
    await using worker = spawnMesh([], {
      program,
      env: { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint, MESH_HOSTNAME: HOSTNAME },
    });
    await eventually(
      `the worker's key under ${WORKERS}\n${worker.output()}`,
      async () => (await workerKeys(registry)).length === 1,
      { intervalMs: 50 },
    );
    const [instance] = await workerKeys(registry);
    assert.equal(instance!.component, "Worker");
    assert.equal(instance!.hostname, HOSTNAME);
    assert.equal(instance!.pid, worker.pid);

    const client = runtime.client("Worker");
    await client.waitForInstances(1, { timeoutMs: 10_000 });
    const chunks: unknown[] = [];
    for await (const chunk of client.generate({ prompt: "x" })) chunks.push(chunk);
    assert.deepEqual(chunks, [`x_GeneratedBy_${HOSTNAME}`]);

    worker.kill("SIGTERM");
    assert.equal((await worker.status).code, 0, worker.output());
    assert.match(worker.output(), /Stopped/);
    assert.deepEqual(await workerKeys(registry), [], "the worker deregistered before exiting");
  } finally {
    await runtime.shutdown(0);
    await bus.close();
    await registry.close();
  }
}

Deno.test("worker entrypoint via deno run with MESH_PERMISSIONS: --help", async () => {
  await checkHelp(DENO_RUN_WORKER);
});

Deno.test(
  "worker entrypoint via deno run with MESH_PERMISSIONS: registers in etcd, answers, SIGTERM → 0",
  async () => {
    await checkClusterWorker(DENO_RUN_WORKER);
  },
);

Deno.test("compile task: no denort runtime is one clear line and exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshwork-no-denort-" });
  try {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "compile", "--out-dir", `${dir}/out`],
      cwd: ROOT,
      env: { DENORT_BIN: `${dir}/no-such-denort`, NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const errors = new TextDecoder().decode(stderr).trimEnd().split("\n");
    assert.equal(code, 1, new TextDecoder().decode(stdout));
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.equal(
      errors[0],
      `error: no denort runtime for Deno ${Deno.version.deno}: DENORT_BIN is set to ` +
        `"${dir}/no-such-denort", which is not a file; ${denortHint()}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const denort = await findDenort();
const runtimeAvailable = denort.kind === "env" || denort.kind === "cache";
const whyNot = denort.kind === "missing"
  ? denort.reason
  : `DENORT_BIN is not set and Deno's cache has no ${
    denort.kind === "download" ? denort.cachePath : "denort"
  }`;

Deno.test({
  name: runtimeAvailable
    ? `compiled worker binary (deno task compile; runtime ${
      denort.kind === "env" ? "DENORT_BIN" : "from Deno's cache"
    }): --help, registers, answers, SIGTERM → 0`
    : `compiled worker binary: --help, registers, answers, SIGTERM → 0 (skipped: no denort ` +
      `runtime: ${whyNot}; set DENORT_BIN to a denort binary of Deno ${Deno.version.deno})`,
  ignore: !runtimeAvailable,
  async fn() {
    const outDir = await Deno.makeTempDir({ prefix: "meshwork-dist-" });
    try {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["task", "--quiet", "compile", "--out-dir", outDir],
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.equal(code, 0, text);
      assert.match(text, /building .*meshwork-worker from bin\/worker\.ts \.\.\. done, [\d.]+ MB/);
      assert.match(text, /building .*meshwork from cli\.ts \.\.\. done, [\d.]+ MB/);

      const binary = `${outDir}/meshwork-worker`;
      await checkHelp([binary]);
      await checkClusterWorker([binary]);

      await using version = spawnMesh(["--version"], { program: [`${outDir}/meshwork`] });
      assert.equal((await version.status).code, 0, version.output());
      assert.equal(version.output().trim(), MESHWORK_VERSION);
    } finally {
      await Deno.remove(outDir, { recursive: true });
    }
  },
});
