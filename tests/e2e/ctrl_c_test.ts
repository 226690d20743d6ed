/**
 * Ctrl-C in a terminal, as a user presses it: `deno task serve` runs in its own process group
 * and SIGINT goes to the whole group, so `serve` gets it twice (from the terminal, and forwarded
 * by `deno task`). That is one Ctrl-C: the mesh stops gracefully — the request in flight is
 * answered — and exits 0. A second Ctrl-C, later, still exits at once (initialize_request_plane_test).
 */

import assert from "node:assert/strict";
import { requireBinary } from "../helpers/binaries.ts";
import { eventually } from "../helpers/eventually.ts";
import { freePort } from "../helpers/free_port.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("Ctrl-C on `deno task serve` (SIGINT to its process group) stops it gracefully, exit 0", async () => {
  const port = await freePort();
  // setsid: the task and the serve it starts form one process group, like a terminal's job.
  const child = new Deno.Command(requireBinary("setsid"), {
    args: [
      Deno.execPath(),
      "task",
      "serve",
      "--config",
      "configs/multi_worker.yaml",
      `--Frontend.port=${port}`,
      "--Frontend.host=127.0.0.1",
      "--Worker.delay_ms=1500",
    ],
    cwd: ROOT,
    env: { NATS_SERVER: "", ETCD_ENDPOINTS: "", MESH_LOG_LEVEL: "warn" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  try {
    const url = `http://127.0.0.1:${port}`;
    await eventually("the gateway answers", async () => {
      try {
        const response = await fetch(`${url}/ready`);
        await response.body?.cancel();
        return response.status === 200;
      } catch {
        return false;
      }
    }, { timeoutMs: 60_000 });
    const slow = fetch(`${url}/generate`, {
      method: "POST",
      body: JSON.stringify({ prompt: "p", request_id: "r" }),
    });
    await eventually("the request is in flight", async () => {
      const metrics = await fetch(`${url}/metrics`).then((r) => r.text());
      return /^mesh_inflight_requests\{component="Worker",instance="[^"]+"\} 1$/m.test(metrics);
    });
    Deno.kill(-child.pid, "SIGINT"); // the whole group, as the terminal does
    const answer = await slow;
    assert.equal(answer.status, 200);
    assert.match(await answer.text(), /_GeneratedBy_/);
    const { code, stderr } = await output;
    assert.equal(code, 0, new TextDecoder().decode(stderr));
  } finally {
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await output.catch(() => {});
  }
});
