/**
 * Seed 002's data plane across processes: `serve --config configs/encoder_decoder.yaml` on real
 * NATS and etcd runs `encoder.0`, `decoder.0` and `encoder_decoder.0` as child processes, and the
 * client sends 4 MiB tensors over HTTP. NATS carries at most 1 MiB per message, so every tensor
 * crosses the processes by descriptor: the encoder_decoder puts the request's tensor in its TCP
 * data plane, the encoder pulls it, the decoder pulls the encoder's output from the encoder, and
 * the encoder_decoder pulls the decoder's answer back to inline it. Each answer equals its input.
 */

import { runClient } from "../helpers/client_process.ts";
import assert from "node:assert/strict";
import { startEtcd } from "../helpers/etcd_server.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";
import { freePort } from "../helpers/free_port.ts";

Deno.test("4 MiB tensors over HTTP through three worker processes: by descriptor, each answer equal to its input", async () => {
  const logDir = await Deno.makeTempDir({ prefix: "meshwork-ed-data-" });
  await using nats = await startNatsServer({ args: ["-js", "-sd", `${logDir}/jetstream`] });
  await using etcd = await startEtcd();
  const http = await freePort();
  try {
    await using serve = spawnMesh([
      "serve",
      "--config",
      "configs/encoder_decoder.yaml",
      "--log-dir",
      logDir,
      `--encoder_decoder.port=${http}`,
      "--encoder_decoder.max_body_bytes=16777216",
    ], { env: { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint } });
    await serve.waitForOutput(/^Workers started \.\.\. press Ctrl-C to Exit$/m, 60_000);

    const { code, stdout, stderr } = await runClient([
      "--tensor",
      "--url",
      `http://127.0.0.1:${http}/generate`,
      "--size",
      String(4 * 1024 * 1024),
      "--dtype",
      "uint8",
      "--requests",
      "8",
      "--concurrency",
      "2",
    ]);
    assert.equal(code, 0, stdout + stderr);
    assert.match(stdout, /answers {6}8 ok, 0 failed/);

    // Each worker process opened its own TCP data plane (on first use) and says where.
    for (const name of ["encoder.0", "decoder.0", "encoder_decoder.0"]) {
      const log = await Deno.readTextFile(`${logDir}/${name}.log`);
      assert.match(log, /Data plane tcp at [^\s"]+:\d+/, `${name}.log`);
    }

    serve.kill("SIGINT");
    assert.equal((await serve.status).code, 0, serve.output());
  } finally {
    await Deno.remove(logDir, { recursive: true }).catch(() => {});
  }
});
