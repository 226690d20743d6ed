/**
 * Seed 000's "two workers" example on three real hosts — as close to three machines as one
 * machine gets. Three network namespaces (`node1`, `node2`, `node3`) on a private bridge, each
 * process also in a UTS namespace of its own whose hostname is its node's name:
 *
 * - node1: `nats-server`, `etcd`, and `cli.ts serve --config configs/multi_worker.yaml
 *   --only Frontend,Processor`;
 * - node2, node3: `cli.ts worker`;
 *
 * all with `NATS_SERVER=nats://<node1>:4222` and `ETCD_ENDPOINTS=http://<node1>:2379`, and no
 * `MESH_HOSTNAME`: the names in the answers come from `Deno.hostname()`. From node1, six
 * `curl -X POST http://127.0.0.1:8000/generate` calls must alternate between node2 and node3.
 *
 * Needs root. Without it (or where `ip netns add` is not permitted) the test is skipped with a
 * message, except under `CI=true`, where it fails. Everything it starts is stopped by PID and
 * every namespace deleted, whatever the outcome; it gives up after a fixed budget (well under a
 * minute) and then prints what every process wrote.
 *
 * @module
 */

import assert from "node:assert/strict";
import { findBinary, requireBinary } from "../helpers/binaries.ts";
import { eventually } from "../helpers/eventually.ts";
import { type MeshProcess, spawnMesh } from "../helpers/mesh_process.ts";
import { createTopology, netnsUnavailable } from "../helpers/netns.ts";

const CI = Deno.env.get("CI") === "true";
const UNAVAILABLE = await netnsUnavailable();
if (UNAVAILABLE && !CI) {
  console.warn(`three_hosts_test: skipped (set CI=true to make this a failure): ${UNAVAILABLE}`);
}

/** The test body's budget; stopping the processes afterwards takes at most ~10 s more. */
const BUDGET_MS = 40_000;
/** Variables that would bypass what the test checks (the real hostname) or the namespaces. */
const UNSET_ENV = [
  "MESH_HOSTNAME",
  "http_proxy",
  "https_proxy",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "all_proxy",
  "ALL_PROXY",
  "grpc_proxy",
];
const STATUS_MARK = "\n--http-status:";
/** The seed's request body. */
const SEED_REQUEST = JSON.stringify({ prompt: "test prompt", request_id: "id_number" });

const expected = (worker: string) =>
  `{"worker_output":"test prompt_ProcessedBy_node1_GeneratedBy_${worker}","request_id":"id_number"}`;

/** A process this test started, with a label for the failure report. */
interface Started {
  label: string;
  process: MeshProcess;
}

Deno.test({
  name: "three hosts: gateway+Processor on node1, Workers on node2 and node3, round robin",
  ignore: UNAVAILABLE !== undefined && !CI,
  async fn() {
    if (UNAVAILABLE) {
      throw new Error(
        `the three-host test needs root and network namespaces, and CI=true does not allow ` +
          `skipping it: ${UNAVAILABLE}`,
      );
    }
    const natsServer = requireBinary("nats-server");
    const etcd = requireBinary("etcd");
    const curl = findBinary("curl");
    const deadline = Date.now() + BUDGET_MS;
    const left = () => Math.max(1, deadline - Date.now());

    await using net = await createTopology({ hosts: ["node1", "node2", "node3"] });
    const node1 = net.host("node1").address;
    const tmp = await Deno.makeTempDir({ prefix: "meshwork-three-hosts-" });
    const servers: Started[] = [];
    const meshes: Started[] = [];
    let stopping = false;
    let onEarlyExit: (error: Error) => void = () => {};
    const earlyExit = new Promise<never>((_, reject) => (onEarlyExit = reject));
    earlyExit.catch(() => {});
    const start = (list: Started[], label: string, process: MeshProcess) => {
      list.push({ label, process });
      process.status.then((status) => {
        if (!stopping) onEarlyExit(new Error(`${label} exited early with code ${status.code}`));
      });
      return process;
    };
    /** Waits for `step`, but fails as soon as any started process exits. */
    const until = <T>(step: Promise<T>): Promise<T> => {
      step.catch(() => {});
      return Promise.race([step, earlyExit]);
    };
    const wrap = (host: string) => (command: string[]) =>
      net.wrap(host, command, { unsetEnv: UNSET_ENV });

    /**
     * One HTTP request to node1's gateway from inside node1's namespace (curl, or Deno's fetch
     * without curl): a POST of `payload` (JSON) when there is one, else a GET.
     */
    const request = async (
      path: string,
      payload?: string,
    ): Promise<{ status: number; body: string }> => {
      const url = `http://127.0.0.1:8000${path}`;
      const seconds = Math.max(1, Math.min(10, Math.floor(left() / 1000)));
      const post = payload === undefined
        ? []
        : ["-X", "POST", "-H", "Content-Type: application/json", "-d", payload];
      const command = curl
        ? [
          curl,
          "-sS",
          "--noproxy",
          "*",
          "--max-time",
          String(seconds),
          ...post,
          url,
          "-w",
          `${STATUS_MARK}%{http_code}`,
        ]
        : [
          Deno.execPath(),
          "eval",
          `const [url, seconds, mark, body] = Deno.args;
           const response = await fetch(url, {
             method: body === undefined ? "GET" : "POST",
             headers: { "Content-Type": "application/json" },
             body,
             signal: AbortSignal.timeout(Number(seconds) * 1000),
           });
           const text = await response.text();
           await Deno.stdout.write(new TextEncoder().encode(text + mark + response.status));`,
          url,
          String(seconds),
          STATUS_MARK,
          ...(payload === undefined ? [] : [payload]),
        ];
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), (seconds + 2) * 1000);
      try {
        const out = await net.run("node1", command, { signal: controller.signal });
        const stdout = new TextDecoder().decode(out.stdout);
        const stderr = new TextDecoder().decode(out.stderr);
        const at = stdout.lastIndexOf(STATUS_MARK);
        if (!out.success || at < 0) {
          throw new Error(`POST ${url} from node1 failed (exit ${out.code}): ${stderr}${stdout}`);
        }
        return { status: Number(stdout.slice(at + STATUS_MARK.length)), body: stdout.slice(0, at) };
      } finally {
        clearTimeout(timer);
      }
    };

    const stopAll = async (list: Started[]) => {
      await Promise.all(list.map(({ process }) => process[Symbol.asyncDispose]()));
    };

    try {
      // node1's servers, bound to node1's bridge address only.
      const nats = start(
        servers,
        `node1 nats-server`,
        spawnMesh(["-a", node1, "-p", "4222"], { program: [natsServer], wrap: wrap("node1") }),
      );
      const etcdUrl = (port: number) => `http://${node1}:${port}`;
      const etcdServer = start(
        servers,
        `node1 etcd`,
        spawnMesh([
          "--name=node1",
          `--data-dir=${tmp}/etcd`,
          `--listen-client-urls=${etcdUrl(2379)}`,
          `--advertise-client-urls=${etcdUrl(2379)}`,
          `--listen-peer-urls=${etcdUrl(2380)}`,
          `--initial-advertise-peer-urls=${etcdUrl(2380)}`,
          `--initial-cluster=node1=${etcdUrl(2380)}`,
          "--initial-cluster-state=new",
          "--logger=zap",
        ], { program: [etcd], wrap: wrap("node1") }),
      );
      const escaped = node1.replaceAll(".", "\\.");
      await until(Promise.all([
        nats.waitForOutput(
          new RegExp(`Listening for client connections on ${escaped}:4222`),
          left(),
        ),
        etcdServer.waitForOutput(/ready to serve client requests|serving client traffic/, left()),
      ]));

      // The mesh: gateway + Processor on node1, one Worker each on node2 and node3.
      const env = { NATS_SERVER: `nats://${node1}:4222`, ETCD_ENDPOINTS: etcdUrl(2379) };
      start(
        meshes,
        "node1 serve --only Frontend,Processor",
        spawnMesh(
          ["serve", "--config", "configs/multi_worker.yaml", "--only", "Frontend,Processor"],
          { env, wrap: wrap("node1") },
        ),
      );
      start(meshes, "node2 worker", spawnMesh(["worker"], { env, wrap: wrap("node2") }));
      start(meshes, "node3 worker", spawnMesh(["worker"], { env, wrap: wrap("node3") }));
      // The gateway answers /ready, and its /health lists both Workers: the Processor's view
      // holds them, so it routes round robin over the two.
      const probe = (path: string) => request(path).catch(() => ({ status: 0, body: "" }));
      const polling = { timeoutMs: left(), intervalMs: 200 };
      await until(
        eventually(
          "node1's /ready answering 200",
          async () => (await probe("/ready")).status === 200,
          polling,
        ),
      );
      await until(eventually("node1's /health listing two Workers", async () => {
        const { status, body } = await probe("/health");
        return status === 200 && _workerCount(body) >= 2;
      }, { ...polling, timeoutMs: left() }));

      // Six requests from node1: strict round robin, exact bytes.
      const bodies: string[] = [];
      for (let i = 0; i < 6; i++) {
        const { status, body } = await until(request("/generate", SEED_REQUEST));
        assert.equal(status, 200, body);
        bodies.push(body);
      }
      assert.deepEqual(
        new Set(bodies),
        new Set([expected("node2"), expected("node3")]),
        bodies.join(""),
      );
      for (let i = 1; i < bodies.length; i++) {
        assert.notEqual(
          bodies[i],
          bodies[i - 1],
          `requests ${i} and ${i + 1} went to the same worker`,
        );
      }
    } catch (error) {
      const report = [...servers, ...meshes].map(({ label, process }) =>
        `----- ${label} (pid ${process.pid}) -----\n${process.output()}`
      );
      console.error(
        `three_hosts_test failed after ${BUDGET_MS - (deadline - Date.now())} ms; namespaces ` +
          `${net.hosts.map((h) => `${h.netns}=${h.hostname}@${h.address}`).join(", ")}, bridge ` +
          `${net.bridgeNetns}\n${report.join("\n")}`,
      );
      throw error;
    } finally {
      stopping = true;
      // The mesh first (it deregisters from etcd and drains over NATS), then the servers.
      await stopAll(meshes);
      await stopAll(servers);
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

/** How many Worker instances a `/health` body lists (0 when it is not the JSON expected). */
function _workerCount(body: string): number {
  try {
    const health = JSON.parse(body) as { instances?: { component?: string }[] };
    return (health.instances ?? []).filter((info) => info.component === "Worker").length;
  } catch {
    return 0;
  }
}
