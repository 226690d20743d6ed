/**
 * One list of least-privilege flags, `bin/permissions.ts`, used everywhere a mesh process starts:
 * these tests keep the `deno.json` tasks and the compile task (`scripts/compile.ts`) in step with
 * it, and check how the compile task finds its `denort` runtime.
 *
 * @module
 */

import assert from "node:assert/strict";
import { MESH_PERMISSIONS, SERVE_PERMISSIONS } from "../../bin/permissions.ts";
import {
  BINARIES,
  compileCommand,
  denortArchive,
  findDenort,
  npmExcludes,
} from "../../scripts/compile.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as {
  tasks: Record<string, string>;
};

/** A task's `deno run` flags and what follows them (script and arguments). */
function splitTask(name: string): { flags: string[]; rest: string[] } {
  const command = config.tasks[name];
  assert.ok(command, `deno.json has no "${name}" task`);
  const words = command.trim().split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"], `task "${name}": ${command}`);
  const firstNonFlag = words.findIndex((word, i) => i >= 2 && !word.startsWith("-"));
  return { flags: words.slice(2, firstNonFlag), rest: words.slice(firstNonFlag) };
}

Deno.test("MESH_PERMISSIONS: network, environment, reading files, the hostname and interfaces; nothing else", () => {
  assert.deepEqual([...MESH_PERMISSIONS].sort(), [
    "--allow-env",
    "--allow-net",
    "--allow-read",
    "--allow-sys=hostname,networkInterfaces,loadavg,systemMemoryInfo,cpus",
  ]);
});

Deno.test("deno.json: worker and status run with exactly MESH_PERMISSIONS, serve adds --allow-run", () => {
  const expected: Record<string, [readonly string[], string[]]> = {
    serve: [SERVE_PERMISSIONS, ["cli.ts", "serve"]],
    worker: [MESH_PERMISSIONS, ["bin/worker.ts"]],
    status: [MESH_PERMISSIONS, ["cli.ts", "status"]],
  };
  for (const [task, [flags, rest]] of Object.entries(expected)) {
    const split = splitTask(task);
    assert.deepEqual(split.flags, [...flags], `task "${task}"`);
    assert.deepEqual(split.rest, rest, `task "${task}"`);
  }
  assert.deepEqual(SERVE_PERMISSIONS, [...MESH_PERMISSIONS, "--allow-run"]);
});

Deno.test("deno.json: the compile task runs scripts/compile.ts", () => {
  const { flags, rest } = splitTask("compile");
  assert.deepEqual(rest, ["scripts/compile.ts"]);
  assert.ok(!flags.includes("-A") && !flags.includes("--allow-all"), flags.join(" "));
});

Deno.test("compile task: builds meshwork-worker from bin/worker.ts and meshwork from cli.ts", async () => {
  assert.deepEqual(BINARIES, [
    { name: "meshwork-worker", entry: "bin/worker.ts", permissions: MESH_PERMISSIONS },
    { name: "meshwork", entry: "cli.ts", permissions: SERVE_PERMISSIONS },
  ]);
  for (const { entry } of BINARIES) assert.ok((await Deno.stat(`${ROOT}${entry}`)).isFile, entry);
});

Deno.test("compile task: deno compile with exactly MESH_PERMISSIONS", () => {
  assert.deepEqual(compileCommand("bin/worker.ts", "dist/meshwork-worker"), [
    "compile",
    ...MESH_PERMISSIONS,
    "--output",
    "dist/meshwork-worker",
    "bin/worker.ts",
  ]);
  assert.deepEqual(
    compileCommand("cli.ts", "out/meshwork", {
      target: "aarch64-unknown-linux-gnu",
      exclude: ["/a/test", "/b/test"],
    }),
    [
      "compile",
      ...MESH_PERMISSIONS,
      "--target",
      "aarch64-unknown-linux-gnu",
      "--exclude",
      "/a/test",
      "--exclude",
      "/b/test",
      "--output",
      "out/meshwork",
      "cli.ts",
    ],
  );
});

Deno.test("compile task: finds denort in DENORT_BIN, then Deno's cache, else it must download", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshwork-denort-" });
  try {
    const runtime = `${dir}/denort`;
    await Deno.writeTextFile(runtime, "");
    const target = "x86_64-unknown-linux-gnu";
    const archive = `release/v${Deno.version.deno}/denort-${target}.zip`;
    assert.equal(denortArchive(target), archive);

    assert.deepEqual(
      await findDenort({ target, env: { DENORT_BIN: runtime }, denoDir: dir }),
      { kind: "env", path: runtime },
    );
    const missing = await findDenort({ target, env: { DENORT_BIN: `${dir}/nope` }, denoDir: dir });
    assert.equal(missing.kind, "missing");
    assert.match((missing as { reason: string }).reason, /DENORT_BIN is set to ".*\/nope"/);

    assert.deepEqual(await findDenort({ target, env: {}, denoDir: dir }), {
      kind: "download",
      url: `https://dl.deno.land/${archive}`,
      cachePath: `${dir}/dl/${archive}`,
    });
    await Deno.mkdir(`${dir}/dl/release/v${Deno.version.deno}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/dl/${archive}`, "");
    assert.deepEqual(await findDenort({ target, env: {}, denoDir: dir }), {
      kind: "cache",
      path: `${dir}/dl/${archive}`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile task: leaves bintrees' test data out (it overflows deno compile's parser)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshwork-denodir-" });
  try {
    const root = `${dir}/project/`;
    assert.deepEqual(npmExcludes(dir, root), []);
    await Deno.mkdir(`${dir}/npm/registry.npmjs.org/bintrees/1.0.2/test`, { recursive: true });
    await Deno.mkdir(`${dir}/npm/registry.npmjs.org/yaml/2.9.1/test`, { recursive: true });
    await Deno.mkdir(`${root}node_modules/.deno/bintrees@1.0.2/node_modules/bintrees/test`, {
      recursive: true,
    });
    assert.deepEqual(npmExcludes(dir, root), [
      `${dir}/npm/registry.npmjs.org/bintrees/1.0.2/test`,
      `${root}node_modules/.deno/bintrees@1.0.2/node_modules/bintrees/test`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
