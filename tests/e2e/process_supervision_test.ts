/**
 * `ServiceArgs.processes`: instances as supervised child processes of `serve`, on real NATS and
 * etcd. `kill -9` of a child is followed by a restart; too many, and `serve` gives up with a
 * non-zero exit so that a service manager can take over.
 */

import assert from "node:assert/strict";
import { connectEtcdRegistry } from "../../planes/etcd/etcd_registry.ts";
import { instancePrefix } from "../../protocol/names.ts";
import type { Registry } from "../../planes/registry.ts";
import type { InstanceInfo } from "../../router/instance_view.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";

const WORKERS = instancePrefix({
  namespace: "hello_world",
  component: "Worker",
  endpoint: "generate",
});

/** Waits (watching etcd, bounded) until the live Worker pids satisfy `done`; returns them. */
async function workerPids(
  registry: Registry,
  done: (pids: Set<number>) => boolean,
  timeoutMs = 20_000,
): Promise<Set<number>> {
  const pids = async () =>
    new Set(
      (await registry.getPrefix(WORKERS)).kvs.map((kv) =>
        (JSON.parse(kv.value) as InstanceInfo).pid
      ),
    );
  let changed!: () => void;
  let wake = new Promise<void>((resolve) => (changed = resolve));
  const watch = await registry.watchPrefix(WORKERS, 0n, {
    onEvent: () => {
      changed();
      wake = new Promise<void>((resolve) => (changed = resolve));
    },
  });
  const giveUp = Date.now() + timeoutMs;
  try {
    for (;;) {
      const now = await pids();
      if (done(now)) return now;
      const left = giveUp - Date.now();
      assert.ok(left > 0, `timed out; worker pids now: ${[...now].join(", ")}`);
      let timer!: ReturnType<typeof setTimeout>;
      await Promise.race([wake, new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
  } finally {
    await watch.close();
  }
}

Deno.test("child-process instances are restarted after kill -9; too many restarts stop serve, exit 1", async () => {
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  const registry = await connectEtcdRegistry({ endpoints: etcd.endpoint });
  try {
    await using serve = spawnMesh([
      "serve",
      "--config",
      "configs/multi_worker.yaml",
      "--only",
      "Worker",
      "--Worker.ServiceArgs.processes=true",
      "--Worker.ServiceArgs.workers=2",
      "--Worker.ServiceArgs.max_restarts=2",
      "--Worker.ServiceArgs.restart_period_s=120",
    ], { env: { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint } });

    const first = await workerPids(registry, (pids) => pids.size === 2);
    assert.ok(!first.has(serve.pid), "instances run in child processes, not in serve");

    // kill -9 one child: a new process takes its place (its old key lingers until the lease ends).
    const [victim] = first;
    const killedAt = Date.now();
    Deno.kill(victim!, "SIGKILL");
    const second = await workerPids(registry, (pids) => [...pids].some((pid) => !first.has(pid)));
    const fresh = [...second].find((pid) => !first.has(pid))!;
    console.log(
      `restart after kill -9: new pid ${fresh} registered in ${Date.now() - killedAt} ms`,
    );

    // Two more kills exceed max_restarts (2 within 120 s): serve gives up and exits non-zero.
    Deno.kill(fresh, "SIGKILL");
    const third = await workerPids(registry, (pids) => [...pids].some((pid) => !second.has(pid)));
    Deno.kill([...third].find((pid) => !second.has(pid))!, "SIGKILL");
    const status = await serve.status;
    assert.equal(status.code, 1, serve.output());
    assert.match(
      serve.output(),
      /^error: Supervisor "Worker processes" gave up: more than 2 restarts in 120000 ms/m,
    );
    // It stopped its remaining child on the way out: nothing of it stays registered but stale keys.
    for (const pid of first) {
      let alive = true;
      try {
        Deno.kill(pid, "SIGCONT");
      } catch {
        alive = false;
      }
      assert.ok(!alive, `child ${pid} still running`);
    }
  } finally {
    await registry.close();
  }
});
