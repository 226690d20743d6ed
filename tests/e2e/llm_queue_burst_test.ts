/**
 * Seed 004's burst for real: `serve --config configs/llm_queue.yaml` on a real `nats-server -js`
 * and etcd (three inference worker processes, two response worker processes, the chat front in
 * the parent), 105 prompts (15 prompts × 7) sent at once through `POST /generate`, and one
 * inference worker process killed with SIGKILL mid-burst. Every prompt gets exactly one answer;
 * the prompt the dead worker held goes to another worker after the queue's ack-wait; the load
 * spreads across the workers. Then the end is signalled on the prompt queue: every worker
 * finishes and its process exits 0, while the front goes on serving.
 */

import assert from "node:assert/strict";
import { startEtcd } from "../helpers/etcd_server.ts";
import { eventually } from "../helpers/eventually.ts";
import { freePort, freePortRun } from "../helpers/free_port.ts";
import { pidAlive, spawnMesh } from "../helpers/mesh_process.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { observeMesh } from "../helpers/observer.ts";

const PROMPTS = [
  "How do workers share the queue?",
  "What happens when a worker dies?",
  "Tell me about the response queue.",
  "Why does the telemetry agent run on every node?",
  "What is a lease?",
  "How does the gateway answer?",
  "Explain the prompt queue.",
  "What does the dashboard show?",
  "Where do the metrics go?",
  "How are answers matched to prompts?",
  "What is a steady stream of prompts like?",
  "How fast is the model?",
  "Who takes the next prompt?",
  "What does greedy mean here?",
  "How does the burst spread?",
];

interface Answer {
  id: string;
  prompt: string;
  text: string;
  worker: string;
  host: string;
  delivery: number;
  latency_ms: number;
  request_id: string;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

Deno.test("seed 004 burst on NATS: 105 prompts, an inference worker killed mid-burst, every prompt answered once", async () => {
  const logDir = await Deno.makeTempDir({ prefix: "meshwork-llm-burst-" });
  await using nats = await startNatsServer({ args: ["-js", "-sd", `${logDir}/jetstream`] });
  await using etcd = await startEtcd();
  const http = await freePort();
  await using observing = await observeMesh(nats.url, etcd.endpoint, "llm_queue");
  const { runtime: observer, view } = observing;
  try {
    await using serve = spawnMesh([
      "serve",
      "--config",
      "configs/llm_queue.yaml",
      "--log-dir",
      logDir,
      "--metrics-port-base",
      String(freePortRun(5)),
      `--chat.port=${http}`,
      "--inference.token_delay_ms=4", // about 160 ms per answer: the burst takes a few seconds
    ], {
      // The node telemetry agent on a free port (the shipped 9400 may be taken).
      env: { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint, MESH_TELEMETRY_PORT: "0" },
    });
    await serve.waitForOutput(/^Workers started \.\.\. press Ctrl-C to Exit$/m, 60_000);
    await eventually(
      "3 inference and 2 response workers registered",
      () => view("inference").instances.length === 3 && view("responder").instances.length === 2,
      {
        timeoutMs: 20_000,
      },
    );
    const workerPids = view("inference").instances.map((i) => i.pid);

    const started = performance.now();
    let received = 0;
    let killed = -1;
    const burst = Array.from({ length: 7 }, () => PROMPTS).flat().map(async (prompt, i) => {
      const t0 = performance.now();
      const response = await fetch(`http://127.0.0.1:${http}/generate`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt, request_id: `burst-${i}` }),
        signal: AbortSignal.timeout(60_000),
      });
      const body = await response.text();
      assert.equal(response.status, 200, body);
      assert.equal(response.headers.get("content-type"), "application/json");
      if (++received === 20) {
        killed = view("inference").instances[0]!.pid;
        Deno.kill(killed, "SIGKILL");
      }
      return { answer: JSON.parse(body) as Answer, ms: performance.now() - t0 };
    });
    const results = await Promise.all(burst);
    const totalMs = performance.now() - started;

    const answers = results.map((r) => r.answer);
    assert.equal(answers.length, 105);
    assert.deepEqual(answers.map((a) => a.request_id), answers.map((_, i) => `burst-${i}`));
    assert.equal(new Set(answers.map((a) => a.id)).size, 105, "one prompt id per prompt");
    for (const [i, a] of answers.entries()) {
      assert.equal(a.prompt, PROMPTS[i % 15]);
      assert.ok(a.text.length > 0, JSON.stringify(a));
    }
    assert.ok(killed > 0 && !pidAlive(killed), "the worker was killed mid-burst");
    assert.ok(
      answers.some((a) => a.delivery >= 2),
      "the prompt the killed worker held was answered by another worker",
    );
    const split = new Map<string, number>();
    for (const a of answers) split.set(a.worker, (split.get(a.worker) ?? 0) + 1);
    assert.ok(split.size >= 3, `the load spread: ${JSON.stringify([...split])}`);

    // Every response was handed back once: the response workers' counts add up to 105.
    let handed = 0;
    for (const instance of view("responder").instances) {
      for await (
        const status of observer.client("responder").generate({}, {
          directTo: instance.instance,
        })
      ) handed += (status as { handed: number }).handed;
    }
    assert.equal(handed, 105);

    const latencies = answers.map((a) => a.latency_ms).sort((a, b) => a - b);
    const roundTrips = results.map((r) => r.ms).sort((a, b) => a - b);
    console.log(
      `burst: 105 prompts in ${(totalMs / 1000).toFixed(2)} s; per worker ${
        JSON.stringify(Object.fromEntries(split))
      }; queue+generation p50 ${percentile(latencies, 50)} ms p99 ${
        percentile(latencies, 99)
      } ms; round trip p50 ${percentile(roundTrips, 50).toFixed(0)} ms p99 ${
        percentile(roundTrips, 99).toFixed(0)
      } ms; redelivered ${answers.filter((a) => a.delivery >= 2).length}`,
    );

    // The end: workers finish once the prompt queue is empty; their processes exit 0.
    const livePids = [
      ...view("inference").instances.map((i) => i.pid),
      ...view("responder").instances.map((i) => i.pid),
    ];
    await observer.queue("prompts").end();
    await eventually(
      "every worker has finished and deregistered",
      () => view("inference").instances.length === 0 && view("responder").instances.length === 0,
      {
        timeoutMs: 20_000,
      },
    );
    await eventually("their processes have exited", () => livePids.every((pid) => !pidAlive(pid)), {
      timeoutMs: 20_000,
    });
    assert.doesNotMatch(serve.output(), /gave up|Restart intensity/);
    assert.ok(workerPids.length === 3);

    // The front still answers (a prompt now waits in the queue: no worker takes it).
    const health = await fetch(`http://127.0.0.1:${http}/live`);
    assert.equal(health.status, 200);
    await health.body?.cancel();

    serve.kill("SIGINT");
    assert.equal((await serve.status).code, 0, serve.output());
  } finally {
    await Deno.remove(logDir, { recursive: true }).catch(() => {});
  }
});
