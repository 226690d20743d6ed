/**
 * `deno task client --config FILE`, with exactly the permissions of the `client` task in
 * deno.json, against `serve` of the same file: it finds the gateway from the config, sends random
 * tensors, checks every answer and ends with the seed's throughput line.
 */

import assert from "node:assert/strict";
import { runClient } from "../helpers/client_process.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";
import { freePort } from "../helpers/free_port.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The `client` task's `deno run` flags, read from deno.json. */
async function clientTaskFlags(): Promise<string[]> {
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks as Record<
    string,
    string
  >;
  const words = tasks.client!.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
  return words.slice(2, -1).filter((word) => word.startsWith("--"));
}

Deno.test("deno task client --config reads the config and gets every tensor back, with the task's permissions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshwork-client-task-" });
  try {
    const port = await freePort();
    const config = `${dir}/encoder_decoder.yaml`;
    // The project's own config, on a free port, every worker in the one process.
    const yaml = (await Deno.readTextFile(`${ROOT}configs/encoder_decoder.yaml`))
      .replace(/^graph: .*$/m, `graph: ${ROOT}examples/encoder_decoder/graph.ts`)
      .replace(/^ {2}port: 8000$/m, `  port: ${port}\n  host: 127.0.0.1`)
      .replaceAll(/^ {4}processes: true$/gm, "    processes: false");
    await Deno.writeTextFile(config, yaml);
    await using serve = spawnMesh(["serve", "--config", config]);
    await serve.waitForOutput(/Workers started \.\.\. press Ctrl-C to Exit/, 30_000);
    const { code, stdout: out, stderr: err } = await runClient(
      ["--config", config, "--requests", "20", "--size", "100000"],
      { flags: await clientTaskFlags(), timeoutMs: 60_000 },
    );
    assert.equal(code, 0, `${out}${err}`);
    assert.match(out, /20 ok, 0 failed/);
    assert.match(out, /^Throughput: [\d.]+ Total Time: [\d.]+$/m);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
