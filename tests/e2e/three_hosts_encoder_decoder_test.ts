/**
 * Seed 002 on three hosts (network namespaces on a private bridge, each process with its own
 * hostname): the encoder on node1, the decoder on node2, and on node3 the servers (`nats-server
 * -js`, etcd), the encoder_decoder with the gateway, and the client. Tensors are larger than the
 * data-plane threshold, so each one travels by descriptor: the decoder can only get the
 * encoder's output by pulling it from node1, the one host that holds it (the data plane
 * advertises each host's own address, found from its interfaces).
 *
 * Needs root; skipped with a message otherwise, except under `CI=true`, where it fails. Everything
 * it starts is stopped by PID and every namespace deleted; it gives up after a fixed budget.
 *
 * @module
 */

import assert from "node:assert/strict";
import { requireBinary } from "../helpers/binaries.ts";
import { eventually } from "../helpers/eventually.ts";
import { type MeshProcess, spawnMesh } from "../helpers/mesh_process.ts";
import { createTopology, netnsUnavailable } from "../helpers/netns.ts";

const CI = Deno.env.get("CI") === "true";
const UNAVAILABLE = await netnsUnavailable();
if (UNAVAILABLE && !CI) {
  console.warn(
    `three_hosts_encoder_decoder_test: skipped (CI=true makes it a failure): ${UNAVAILABLE}`,
  );
}
const ROOT = new URL("../../", import.meta.url).pathname;
const BUDGET_MS = 60_000;
const UNSET_ENV = ["MESH_HOSTNAME", "MESH_DATA_ADVERTISE", "http_proxy", "HTTP_PROXY", "all_proxy"];
const CONFIG = ["--config", "configs/encoder_decoder.yaml"];
/** One process per component, in this namespace: no child processes. */
const IN_PROCESS = ["encoder", "decoder", "encoder_decoder"].map((c) =>
  `--${c}.ServiceArgs.processes=false`
);
/** 256 KiB tensors: over the 64 KiB threshold, under the gateway's 1 MiB body limit. */
const TENSOR_BYTES = 256 * 1024;
const REQUESTS = 20;

Deno.test({
  name: "three hosts: encoder on node1, decoder on node2, encoder_decoder and client on node3",
  ignore: UNAVAILABLE !== undefined && !CI,
  async fn() {
    if (UNAVAILABLE) throw new Error(`needs root and network namespaces: ${UNAVAILABLE}`);
    const natsServer = requireBinary("nats-server");
    const etcd = requireBinary("etcd");
    const deadline = Date.now() + BUDGET_MS;
    const left = () => Math.max(1, deadline - Date.now());

    await using net = await createTopology({ hosts: ["node1", "node2", "node3"] });
    const node3 = net.host("node3").address;
    const tmp = await Deno.makeTempDir({ prefix: "meshwork-three-hosts-ed-" });
    const started: { label: string; process: MeshProcess }[] = [];
    const start = (label: string, process: MeshProcess) => {
      started.push({ label, process });
      return process;
    };
    const wrap = (host: string) => (command: string[]) =>
      net.wrap(host, command, { unsetEnv: UNSET_ENV });
    let lastClient: Deno.CommandOutput | undefined;
    const env = { NATS_SERVER: `nats://${node3}:4222`, ETCD_ENDPOINTS: `http://${node3}:2379` };
    try {
      const nats = start(
        "node3 nats-server",
        spawnMesh(["-a", node3, "-p", "4222", "-js", "-sd", `${tmp}/js`], {
          program: [natsServer],
          wrap: wrap("node3"),
        }),
      );
      const url = (port: number) => `http://${node3}:${port}`;
      const etcdServer = start(
        "node3 etcd",
        spawnMesh([
          "--name=node3",
          `--data-dir=${tmp}/etcd`,
          `--listen-client-urls=${url(2379)}`,
          `--advertise-client-urls=${url(2379)}`,
          `--listen-peer-urls=${url(2380)}`,
          `--initial-advertise-peer-urls=${url(2380)}`,
          `--initial-cluster=node3=${url(2380)}`,
          "--initial-cluster-state=new",
          "--logger=zap",
        ], { program: [etcd], wrap: wrap("node3") }),
      );
      await Promise.all([
        nats.waitForOutput(/Listening for client connections/, left()),
        etcdServer.waitForOutput(/ready to serve client requests|serving client traffic/, left()),
      ]);

      const worker = (host: string, component: string) =>
        start(
          `${host} ${component}`,
          spawnMesh(
            ["worker", ...CONFIG, "--component", component, ...IN_PROCESS],
            { env, wrap: wrap(host) },
          ),
        );
      const encoder = worker("node1", "encoder");
      worker("node2", "decoder");
      const front = start(
        "node3 serve --only encoder_decoder",
        spawnMesh([
          "serve",
          ...CONFIG,
          "--only",
          "encoder_decoder",
          ...IN_PROCESS,
          "--log-dir",
          tmp,
        ], {
          env,
          wrap: wrap("node3"),
        }),
      );
      await front.waitForOutput(/Workers started \.\.\. press Ctrl-C to Exit/, left());
      // Fail at once, with everyone's output, if a process gave up instead of waiting.
      const early = Promise.race(
        started.map(({ label, process }) =>
          process.status.then((status) => {
            throw new Error(`${label} exited early with code ${status.code}`);
          })
        ),
      );
      early.catch(() => {});

      // The client, on node3, against the gateway: every answer must equal its tensor.
      const client = [
        Deno.execPath(),
        "run",
        "--allow-net",
        "--allow-read",
        `${ROOT}bin/client.ts`,
        "--tensor",
        "--size",
        String(TENSOR_BYTES),
        "--requests",
        String(REQUESTS),
        "--concurrency",
        "4",
        "--url",
        "http://127.0.0.1:8000/generate",
      ];
      await Promise.race([
        early,
        eventually("the client gets every tensor back", async () => {
          lastClient = await net.run("node3", client, { signal: AbortSignal.timeout(left()) });
          return lastClient.success;
        }, { timeoutMs: left(), intervalMs: 500 }),
      ]);
      const stdout = new TextDecoder().decode(lastClient!.stdout);
      assert.match(stdout, new RegExp(`${REQUESTS} ok, 0 failed`), stdout);
      assert.match(stdout, /^Throughput: [\d.]+ Total Time: [\d.]+$/m, stdout);
      // The encoder's data plane advertised node1's own address: the decoder on node2 pulled
      // the encoded tensors from there (nobody else held them).
      await encoder.waitForOutput(
        new RegExp(`Data plane tcp at ${net.host("node1").address.replaceAll(".", "\\.")}:\\d+`),
        left(),
      );
    } catch (error) {
      if (lastClient) {
        const text = new TextDecoder();
        console.error(
          `----- client\n${text.decode(lastClient.stdout)}${text.decode(lastClient.stderr)}`,
        );
      }
      console.error(
        started.map(({ label, process }) =>
          `----- ${label} (pid ${process.pid})\n${process.output()}`
        )
          .join("\n"),
      );
      throw error;
    } finally {
      for (const { process } of started.reverse()) await process[Symbol.asyncDispose]();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
