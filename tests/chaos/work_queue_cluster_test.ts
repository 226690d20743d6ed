/**
 * Fault injection on the work queue of seed 002 (JetStream) over a real 3-server NATS cluster:
 * `serve --config configs/encoder_decoder.yaml --only encoder_decoder,decoder`, with the encoder
 * (a queue-served worker) not running. Requests sent through the gateway wait in the encoder's
 * queue; then the server leading the queue's stream (found with `/jsz`) is killed, and only then
 * is the encoder started (`worker --component encoder`).
 *
 * Promised (issue 11): the queue's stream has 3 replicas on a 3-server cluster, so it keeps every
 * queued request through the loss of one server: every request is answered once, with its own
 * tensor (encode then decode is the identity), no error allowed, and the queue is empty after.
 */

import assert from "node:assert/strict";
import { startEtcd } from "../helpers/etcd_server.ts";
import { eventually } from "../helpers/eventually.ts";
import { freePort, freePortRun } from "../helpers/free_port.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";
import { startNatsCluster } from "../helpers/nats_cluster.ts";
import { untilReady } from "../helpers/ops_probe.ts";
import { bounded } from "./harness.ts";
import { printSummary, summaryLine } from "./load.ts";

const REQUESTS = 12;
const STREAM = "MESHQ_encoder_decoder_encoder_generate";

/** Messages in `stream` and its replica count, from a server's `/jsz`; undefined: unknown. */
async function streamState(
  monitorPort: number,
): Promise<{ messages: number; replicas: number } | undefined> {
  try {
    const response = await fetch(
      `http://127.0.0.1:${monitorPort}/jsz?accounts=true&streams=true&config=true`,
      { signal: AbortSignal.timeout(1000) },
    );
    const jsz = await response.json() as {
      account_details?: {
        stream_detail?: {
          name: string;
          state?: { messages?: number };
          config?: { num_replicas?: number };
        }[];
      }[];
    };
    for (const account of jsz.account_details ?? []) {
      const detail = account.stream_detail?.find((d) => d.name === STREAM);
      if (detail) {
        return {
          messages: detail.state?.messages ?? 0,
          replicas: detail.config?.num_replicas ?? 1,
        };
      }
    }
  } catch {
    // not answering
  }
  return undefined;
}

Deno.test("chaos: work queue on a NATS cluster keeps queued requests through a server kill", async () => {
  const logDir = await Deno.makeTempDir({ prefix: "meshwork-wq-cluster-" });
  await using nats = await startNatsCluster();
  await using etcd = await startEtcd();
  const env = { NATS_SERVER: nats.urls.join(","), ETCD_ENDPOINTS: etcd.endpoint };
  const http = await freePort();
  try {
    await using serve = spawnMesh([
      "serve",
      "--config",
      "configs/encoder_decoder.yaml",
      "--only",
      "encoder_decoder,decoder",
      "--log-dir",
      logDir,
      "--metrics-port-base",
      String(freePortRun(2)),
      `--encoder_decoder.port=${http}`,
    ], { env });
    await serve.waitForOutput(/^Workers started \.\.\. press Ctrl-C to Exit$/m, 60_000);
    await untilReady(`http://127.0.0.1:${http}`, { timeoutMs: 60_000 });

    // Each request a tensor of its own; the answers must be the same tensors.
    const inputs = Array.from({ length: REQUESTS }, (_, i) => {
      const data = new Int16Array([i, -i, 1000 + i, 7]);
      return {
        tensor: {
          dtype: "int16",
          shape: [4],
          data: btoa(String.fromCharCode(...new Uint8Array(data.buffer))),
        },
      };
    });
    const answers = inputs.map(async (input) => {
      try {
        const response = await fetch(`http://127.0.0.1:${http}/generate`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify(input),
        });
        return { status: response.status, body: await response.json() as unknown };
      } catch (error) {
        return { status: 0, body: { error: { code: "network", message: String(error) } } };
      }
    });

    // Every request waits in the encoder's queue: no encoder runs yet.
    let leader: number | undefined;
    await eventually(`${REQUESTS} requests queued for the encoder`, async () => {
      leader = await nats.streamLeader(STREAM);
      if (leader === undefined) return false;
      const state = await streamState(nats.servers[leader]!.monitorPort);
      return state?.messages === REQUESTS;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    const before = await streamState(nats.servers[leader!]!.monitorPort);
    assert.equal(before?.replicas, 3, "the queue's stream is replicated on 3 servers");

    // The stream's leader dies; the two others elect a new one, with every queued request.
    await nats.kill(leader!);
    const survivor = nats.servers.findIndex((_, i) => i !== leader);
    const killAt = Date.now();
    await using encoder = spawnMesh(
      [
        "worker",
        "--config",
        "configs/encoder_decoder.yaml",
        "--component",
        "encoder",
        "--encoder.ServiceArgs.processes=false", // in this process: the test starts it
      ],
      { env: { ...env, MESH_HOSTNAME: "encoder" } },
    );
    const exited = encoder.status.then((status) => {
      throw new Error(`the encoder exited (${status.code}):\n${encoder.output()}`);
    });
    const results = await bounded(
      Promise.race([Promise.all(answers), exited]),
      45_000,
      "the queued requests' answers",
    );
    const answeredMs = Date.now() - killAt;

    let ok = 0;
    const errorsByCode: Record<string, number> = {};
    results.forEach((result, i) => {
      const body = result.body as { tensor?: unknown; error?: { code?: string } };
      if (
        result.status === 200 && JSON.stringify(body.tensor) === JSON.stringify(inputs[i]!.tensor)
      ) ok++;
      else {
        const code = body.error?.code ?? `status_${result.status}`;
        errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
      }
    });
    const after = await streamState(nats.servers[survivor]!.monitorPort);
    const failed = REQUESTS - ok;
    printSummary(summaryLine(
      "work-queue-nats-leader-kill",
      { sent: REQUESTS, ok, clearError: failed, unclearError: 0, lost: 0, errorsByCode },
      answeredMs,
      undefined,
      {
        queued: before?.messages ?? 0,
        replicas: before?.replicas ?? 0,
        left: after?.messages ?? -1,
      },
    ));

    assert.equal(
      ok,
      REQUESTS,
      `answers: ${JSON.stringify(results.filter((r) => r.status !== 200))}
${encoder.output().slice(-3000)}`,
    );
    assert.equal(after?.messages, 0, "the queue is empty: every request was taken once");
    encoder.kill("SIGTERM");
    serve.kill("SIGINT");
    assert.equal((await serve.status).code, 0, serve.output().slice(-3000));
  } finally {
    await Deno.remove(logDir, { recursive: true }).catch(() => {});
  }
});
