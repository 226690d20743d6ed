/**
 * Seed 000's multinode run, for real: nats-server and etcd, the gateway and Processor in one
 * process, two Workers in two more, all started the way a user starts them.
 */

import assert from "node:assert/strict";
import { connectEtcdRegistry } from "../../planes/etcd/etcd_registry.ts";
import { instancePrefix } from "../../protocol/names.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";
import { freePort } from "../helpers/free_port.ts";

const WORKERS = instancePrefix({
  namespace: "hello_world",
  component: "Worker",
  endpoint: "generate",
});

async function generate(port: number, accept?: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/generate`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(accept ? { accept } : {}) },
    body: JSON.stringify({ prompt: "test prompt", request_id: "id_number" }),
  });
  return { status: response.status, body: await response.text() };
}

const expected = (node: string) =>
  `{"worker_output":"test prompt_ProcessedBy_node1_GeneratedBy_${node}","request_id":"id_number"}`;

Deno.test("multinode: round robin over two worker processes, kill -9 of one, a late joiner", async () => {
  await using nats = await startNatsServer();
  await using etcd = await startEtcd();
  const registry = await connectEtcdRegistry({ endpoints: etcd.endpoint });
  const env = { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
  const port = await freePort();
  try {
    await using front = spawnMesh(
      [
        "serve",
        "--config",
        "configs/multi_worker.yaml",
        "--only",
        "Frontend,Processor",
        `--Frontend.port=${port}`,
      ],
      { env: { ...env, MESH_HOSTNAME: "node1" } },
    );
    // The seed's start-up lines are what this part checks (`Waiting for more workers to be
    // ready. Current: X, Required: 2`, then `Workers are all ready: [...]`, as seed 000 prints
    // them), so it waits for those lines rather than polling the gateway's /ready.
    await front.waitForOutput(/Waiting for more workers to be ready\. Current: 0, Required: 2/);
    await using _node2 = spawnMesh(["worker"], { env: { ...env, MESH_HOSTNAME: "node2" } });
    await front.waitForOutput(/Current: 1, Required: 2/);
    await using node3 = spawnMesh(["worker"], { env: { ...env, MESH_HOSTNAME: "node3" } });
    await front.waitForOutput(/Workers are all ready: \[\w+, \w+\]/);

    // `status` lists the live instances from etcd.
    await using status = spawnMesh(["status", "--namespace", "hello_world"], { env });
    assert.equal((await status.status).code, 0, status.output());
    assert.equal(
      status.output().match(/^hello_world\s+Worker\s+generate\s+\w+\s+node[23]\s/gm)?.length,
      2,
      status.output(),
    );

    // Round robin: strict alternation, exact bytes.
    const bodies: string[] = [];
    for (let i = 0; i < 6; i++) {
      const { status, body } = await generate(port);
      assert.equal(status, 200, body);
      bodies.push(body);
    }
    assert.deepEqual(new Set(bodies), new Set([expected("node2"), expected("node3")]));
    for (let i = 1; i < bodies.length; i++) assert.notEqual(bodies[i], bodies[i - 1]);

    // SSE carries the same object as one data event.
    const sse = await generate(port, "text/event-stream");
    assert.equal(sse.status, 200);
    assert.match(
      sse.body,
      /^data: \{"worker_output":"test prompt_ProcessedBy_node1_GeneratedBy_node[23]","request_id":"id_number"\}\n\n$/,
    );

    // kill -9 one worker: every following request succeeds on the other.
    const gone = new Promise<number>((resolve) => {
      const killedAt = Date.now();
      registry.watchPrefix(WORKERS, 0n, {
        onEvent: (event) => {
          if (event.type === "delete") resolve(Date.now() - killedAt);
        },
      }).then((watch) => gone.finally(() => watch.close()));
    });
    node3.kill("SIGKILL");
    await node3.status;
    for (let i = 0; i < 20; i++) {
      const { status, body } = await generate(port);
      assert.equal(status, 200, body);
      assert.equal(body, expected("node2"));
    }
    // Its key goes with its lease (TTL 10 s).
    const goneAfterMs = await gone;
    assert.ok(goneAfterMs <= 12_000, `key removed after ${goneAfterMs} ms`);
    assert.equal((await registry.getPrefix(WORKERS)).kvs.length, 1);

    // A worker started later joins without restarting anything.
    await using node4 = spawnMesh(["worker"], { env: { ...env, MESH_HOSTNAME: "node4" } });
    await node4.waitForOutput(/Instance ready component=Worker/);
    const seen = new Set<string>();
    for (let i = 0; i < 20 && seen.size < 2; i++) seen.add((await generate(port)).body);
    assert.deepEqual(seen, new Set([expected("node2"), expected("node4")]));

    // SIGTERM: deregister, drain, exit 0.
    node4.kill("SIGTERM");
    assert.equal((await node4.status).code, 0, node4.output());
  } finally {
    await registry.close();
  }
});
