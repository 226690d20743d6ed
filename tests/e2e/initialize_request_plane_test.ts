/**
 * `serve --initialize-request-plane` owns the nats-server and etcd it starts: they go when serve
 * goes, even when an impatient second Ctrl-C makes it exit at once.
 */

import assert from "node:assert/strict";
import { SAME_SIGNAL_MS } from "../../bin/serve.ts";
import { abortableDelay } from "../../utils/abortable_delay.ts";
import { pidAlive as alive, spawnMesh } from "../helpers/mesh_process.ts";
import { freePort } from "../helpers/free_port.ts";
import { eventually } from "../helpers/eventually.ts";

Deno.test("a second SIGINT exits at once and takes the servers --initialize-request-plane started", async () => {
  const port = await freePort();
  await using serve = spawnMesh([
    "serve",
    "--config",
    "configs/multi_worker.yaml",
    "--initialize-request-plane",
    `--Frontend.port=${port}`,
    "--Frontend.host=127.0.0.1",
    "--Worker.delay_ms=5000",
  ], { env: { NATS_SERVER: "", ETCD_ENDPOINTS: "" } });
  await serve.waitForOutput(/^Workers started \.\.\. press Ctrl-C to Exit$/m, 60_000);
  const started = /nats-server pid (\d+) at nats:\/\/[^,]+, etcd pid (\d+)/.exec(serve.output());
  assert.ok(started, serve.output());
  const pids = [Number(started[1]), Number(started[2])];
  assert.ok(pids.every(alive), "the servers run while serve does");
  // A request still in flight (the Worker takes 5 s) keeps the graceful stop waiting, so that
  // the second signal comes while it does (two signals sent at once would merge into one).
  const slow = fetch(`http://127.0.0.1:${port}/generate`, {
    method: "POST",
    body: JSON.stringify({ prompt: "p", request_id: "r" }),
  }).then((response) => response.body?.cancel(), () => {});
  await eventually("the request is in flight", async () => {
    const health = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
    return /^mesh_inflight_requests\{component="Worker",instance="[^"]+"\} 1$/m.test(health);
  });
  serve.kill("SIGINT");
  await serve.waitForOutput(/Shutting down/, 10_000);
  // An impatient user presses Ctrl-C again, later: the same signal within SAME_SIGNAL_MS would
  // count as the first one delivered twice (ctrl_c_test.ts), so this one comes after it.
  await abortableDelay(SAME_SIGNAL_MS + 100);
  serve.kill("SIGINT");
  const status = await serve.status;
  assert.equal(status.code, 1, serve.output());
  await eventually("the servers are gone", () => pids.every((pid) => !alive(pid)), {
    timeoutMs: 10_000,
  });
  await slow;
});
