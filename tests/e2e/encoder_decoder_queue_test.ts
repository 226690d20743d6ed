/**
 * Seed 002's request plane under a fault: `serve --config configs/encoder_decoder.yaml` on a real
 * `nats-server -js` and etcd (encoder and decoder served from the durable work queue, each a
 * child process), the client sending tensors under load, and the decoder's process killed with
 * SIGKILL mid-run. Its request is never acknowledged, so after the ack-wait the queue hands it to
 * the decoder `serve` starts in its place; the requests sent while no decoder ran wait in the
 * queue for it. Every request gets exactly one answer, equal to its input (client exit 0).
 */

import assert from "node:assert/strict";
import { startEtcd } from "../helpers/etcd_server.ts";
import { eventually } from "../helpers/eventually.ts";
import { freePort, freePortRun } from "../helpers/free_port.ts";
import { clientCommand, decodeRun } from "../helpers/client_process.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";
import { startNatsServer } from "../helpers/nats_server.ts";

/** The decoder's process id and requests in flight, from its status port (undefined: down). */
async function decoderState(
  port: number,
): Promise<{ pids: number[]; inflight: number } | undefined> {
  try {
    const signal = AbortSignal.timeout(2000);
    const health = await (await fetch(`http://127.0.0.1:${port}/health`, { signal })).json() as {
      instances: { component: string; pid: number; hostname: string }[];
    };
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal })).text();
    const inflight = [
      ...metrics.matchAll(
        /^mesh_inflight_requests\{component="decoder",instance="[^"]+"\} (\d+)/gm,
      ),
    ].reduce((sum, match) => sum + Number(match[1]), 0);
    const pids = health.instances.filter((i) => i.component === "decoder").map((i) => i.pid);
    return { pids, inflight };
  } catch {
    return undefined;
  }
}

Deno.test("kill -9 of the decoder process under load: every request answered once, equal to its input", async () => {
  const logDir = await Deno.makeTempDir({ prefix: "meshwork-ed-queue-" });
  await using nats = await startNatsServer({ args: ["-js", "-sd", `${logDir}/jetstream`] });
  await using etcd = await startEtcd();
  const base = freePortRun(3);
  const http = await freePort();
  try {
    await using serve = spawnMesh([
      "serve",
      "--config",
      "configs/encoder_decoder.yaml",
      "--log-dir",
      logDir,
      "--metrics-port-base",
      String(base),
      `--encoder_decoder.port=${http}`,
      // about 50 ms of work per 1 KiB tensor, and a short ack-wait for the lost request
      "--decoder.delay=0.00005",
      "--decoder.ServiceArgs.ack_wait_s=2",
    ], { env: { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint } });
    await serve.waitForOutput(/^Workers started \.\.\. press Ctrl-C to Exit$/m, 60_000);
    const decoderPort = base + 1; // encoder.0, decoder.0, encoder_decoder.0 in start order

    const client = clientCommand([
      "--tensor",
      "--url",
      `http://127.0.0.1:${http}/generate`,
      "--size",
      "1024",
      "--requests",
      "80",
      "--concurrency",
      "4",
      "--timeout-ms",
      "45000",
    ]).spawn();
    const done = client.output();

    // Mid-run: the decoder is working on a request. Kill its process without warning.
    let victim = -1;
    await eventually("the decoder is serving a request", async () => {
      const state = await decoderState(decoderPort);
      if (!state || state.inflight < 1 || state.pids.length !== 1) return false;
      victim = state.pids[0]!;
      return true;
    }, { timeoutMs: 30_000, intervalMs: 10 });
    Deno.kill(victim, "SIGKILL");

    const { code, stdout, stderr } = decodeRun(await done);
    const out = stdout + stderr;
    assert.equal(code, 0, out + serve.output());
    assert.match(out, /answers {6}80 ok, 0 failed/);
    assert.match(out, /^Throughput: [\d.]+ Total Time: [\d.]+$/m);

    // serve started another decoder process in its place, and it served what was left.
    await eventually("a new decoder process is registered", async () => {
      const state = await decoderState(decoderPort);
      return state?.pids.some((pid) => pid !== victim) === true;
    }, { timeoutMs: 20_000 });
    assert.match(serve.output(), /Process \d+ exited with signal SIGKILL/);
    const log = await Deno.readTextFile(`${logDir}/decoder.0.log`);
    assert.match(log, /Serving a request its first worker did not finish .*delivery=2/, log);

    serve.kill("SIGINT");
    assert.equal((await serve.status).code, 0, serve.output());
  } finally {
    await Deno.remove(logDir, { recursive: true }).catch(() => {});
  }
});
