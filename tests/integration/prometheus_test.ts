/**
 * Debian's `prometheus`, started with the shipped `deploy/prometheus/prometheus.yml` (only the
 * service-discovery URL's port rewritten), scrapes a mesh on real NATS (JetStream) and etcd: a
 * `serve` process (gateway + node telemetry agent) and two Worker child processes, all found
 * through the gateway's `GET /prometheus/targets`. Checked through Prometheus' HTTP API: every
 * registered target is up; a worker started later is scraped with no restart; every query of
 * `deploy/grafana/dashboard.json` returns data, except the GPU panels, which stay empty here (no
 * `nvidia-smi`): absent, not zero.
 */

import assert from "node:assert/strict";
import { MESH_PERMISSIONS, SERVE_PERMISSIONS } from "../../bin/permissions.ts";
import { requireBinary } from "../helpers/binaries.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { eventually } from "../helpers/eventually.ts";
import { freePort, freePortRun } from "../helpers/free_port.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";
import { startNatsServer } from "../helpers/nats_server.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const GRAPH = `${ROOT}tests/fixtures/telemetry_graph.ts`;

interface PromTarget {
  scrapeUrl: string;
  health: string;
  labels: Record<string, string>;
}

interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

/** A running Prometheus that the test owns. */
async function startPrometheus(sdPort: number, dir: string) {
  const binary = requireBinary("prometheus");
  const shipped = await Deno.readTextFile(`${ROOT}deploy/prometheus/prometheus.yml`);
  const sdUrl = /http:\/\/localhost:8000\/prometheus\/targets/;
  assert.match(shipped, sdUrl, "the shipped config asks the gateway on localhost:8000");
  await Deno.writeTextFile(
    `${dir}/prometheus.yml`,
    shipped.replace(sdUrl, `http://localhost:${sdPort}/prometheus/targets`),
  );
  const port = await freePort();
  const child = new Deno.Command(binary, {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const drained = Promise.all([child.stdout, child.stderr].map(async (stream) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) output += text;
  }));
  const url = `http://127.0.0.1:${port}`;
  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}${path}`);
    const body = await response.json();
    assert.equal(body.status, "success", `${path}: ${JSON.stringify(body)}`);
    return body.data as T;
  };
  return {
    url,
    output: () => output,
    api,
    targets: async () =>
      (await api<{ activeTargets: PromTarget[] }>("/api/v1/targets?state=active")).activeTargets,
    query: async (expr: string) =>
      (await api<{ result: PromSeries[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`))
        .result,
    async [Symbol.asyncDispose]() {
      try {
        Deno.kill(child.pid, "SIGTERM");
      } catch {
        // already gone
      }
      const late = setTimeout(() => {
        try {
          Deno.kill(child.pid, "SIGKILL");
        } catch {
          // gone
        }
      }, 5000);
      await child.status;
      clearTimeout(late);
      await drained;
    },
  };
}

/** Every expression of the shipped dashboard, by panel title. */
async function dashboardQueries(): Promise<{ title: string; expr: string }[]> {
  const dashboard = JSON.parse(await Deno.readTextFile(`${ROOT}deploy/grafana/dashboard.json`)) as {
    panels: { title: string; datasource: { uid: string }; targets: { expr: string }[] }[];
  };
  return dashboard.panels.flatMap((panel) => {
    assert.equal(panel.datasource.uid, "meshwork-prometheus", panel.title);
    return panel.targets.map((target) => ({
      title: panel.title,
      expr: target.expr.replaceAll("$__rate_interval", "1m"),
    }));
  });
}

Deno.test({
  name: "Prometheus with the shipped config scrapes every process through the mesh's HTTP SD; " +
    "a later worker is picked up; every non-GPU dashboard query has data, GPU ones are absent",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "meshwork-prometheus-" });
    try {
      await using nats = await startNatsServer({ args: ["-js", "-sd", `${dir}/js`] });
      await using etcd = await startEtcd();
      const [gatewayPort, agentPort, laterStatusPort] = await Promise.all([
        freePort(),
        freePort(),
        freePort(),
      ]);
      const metricsPortBase = freePortRun(2);
      const config = `${dir}/telemetry.yaml`;
      await Deno.writeTextFile(
        config,
        [
          "namespace: telemetry_test",
          `graph: ${GRAPH}`,
          `metrics_port_base: ${metricsPortBase}`,
          "telemetry:",
          `  port: ${agentPort}`,
          "  every_s: 1",
          "Frontend:",
          `  port: ${gatewayPort}`,
          "Worker:",
          "  ServiceArgs:",
          "    workers: 2",
          "    processes: true",
          "    queue: true",
          "",
        ].join("\n"),
      );
      const env = {
        NATS_SERVER: nats.url,
        ETCD_ENDPOINTS: etcd.endpoint,
        MESH_METRICS_ADVERTISE: "127.0.0.1",
      };
      await using serve = spawnMesh(["serve", "--config", config, "--log-dir", `${dir}/logs`], {
        env,
        program: [
          Deno.execPath(),
          "run",
          ...SERVE_PERMISSIONS,
          `${ROOT}cli.ts`,
        ],
      });
      await serve.waitForOutput(/Meshwork serving/, 40_000);

      // The mesh's own service discovery: the gateway, the agent and both worker status ports.
      const sd = await (await fetch(`http://127.0.0.1:${gatewayPort}/prometheus/targets`)).json();
      const expected = new Set([
        `127.0.0.1:${gatewayPort}`,
        `127.0.0.1:${agentPort}`,
        `127.0.0.1:${metricsPortBase}`,
        `127.0.0.1:${metricsPortBase + 1}`,
      ]);
      assert.deepEqual(
        new Set((sd as { targets: string[] }[]).flatMap((group) => group.targets)),
        expected,
      );

      await using prometheus = await startPrometheus(gatewayPort, dir);
      const upTargets = async () =>
        new Set(
          (await prometheus.targets().catch(() => []))
            .filter((t) => t.health === "up")
            .map((t) => new URL(t.scrapeUrl).host),
        );
      await eventually(
        "Prometheus scrapes every registered target, all up",
        async () => {
          const up = await upTargets();
          return [...expected].every((address) => up.has(address));
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      ).catch((error) => {
        throw new Error(`${error.message}\n${prometheus.output()}`);
      });
      const byRole = new Map(
        (await prometheus.targets()).map((t) => [new URL(t.scrapeUrl).host, t.labels.mesh_role]),
      );
      assert.equal(byRole.get(`127.0.0.1:${gatewayPort}`), "gateway");
      assert.equal(byRole.get(`127.0.0.1:${agentPort}`), "telemetry");
      assert.equal(byRole.get(`127.0.0.1:${metricsPortBase}`), "worker");

      // Bounded load through the gateway: 300 requests, 6 at a time.
      let sent = 0;
      const load = async () => {
        while (sent < 300) {
          sent++;
          const response = await fetch(`http://127.0.0.1:${gatewayPort}/generate`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ prompt: `one two three ${sent}` }),
          });
          assert.equal(response.status, 200, await response.text());
        }
      };

      // A worker started later, by hand, on a status port of its own.
      // bin/worker.ts is `meshwork worker` (it adds the command itself).
      await using later = spawnMesh([
        "--config",
        config,
        "--component",
        "Worker",
        "--status-port",
        String(laterStatusPort),
        "--Worker.ServiceArgs.processes=false",
      ], { env, program: [Deno.execPath(), "run", ...MESH_PERMISSIONS, `${ROOT}bin/worker.ts`] });
      await Promise.all([...Array.from({ length: 6 }, load), later.waitForOutput(/serving/)]);
      await eventually(
        "the later worker becomes an up target, Prometheus not restarted",
        async () => (await upTargets()).has(`127.0.0.1:${laterStatusPort}`),
        { timeoutMs: 20_000, intervalMs: 500 },
      );

      for (const { title, expr } of await dashboardQueries()) {
        if (title.startsWith("GPU")) {
          // No nvidia-smi here: no series at all (absent), not a zero.
          assert.deepEqual(await prometheus.query(expr), [], `${title}: ${expr}`);
          continue;
        }
        await eventually(
          `dashboard panel "${title}" has data: ${expr}`,
          async () => (await prometheus.query(expr)).length > 0,
          { timeoutMs: 20_000, intervalMs: 500 },
        );
      }
      // The node metrics are there for this host; the GPU ones are absent.
      assert.ok((await prometheus.query("mesh_node_load_average")).length === 3);
      assert.deepEqual(await prometheus.query("mesh_gpu_memory_total_bytes"), []);
      const queues = await prometheus.query("mesh_queue_depth");
      assert.ok(
        queues.some((s) => s.metric.queue === "telemetry_test.Worker.generate"),
        JSON.stringify(queues),
      );
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
