/**
 * `deno task bench`: the hello-world request rate through the gateway, in one run on one
 * machine, so the figures compare as ratios:
 *
 * 1. baseline: a bare `Deno.serve` answering the same bytes (no mesh);
 * 2. embedded: `serve --config configs/multi_worker.yaml` (gateway, Processor, 2 Workers, one process);
 * 3. nats: real nats-server and etcd, gateway + Processor in one process, 2 Worker processes.
 *
 * Load comes from `hey` (Debian package `hey`), bounded by time: `--seconds` per scenario
 * (default 10) at `--concurrency` (default 16), after a 1 s warm-up. Loopback only.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startEtcd } from "../tests/helpers/etcd_server.ts";
import { startNatsServer } from "../tests/helpers/nats_server.ts";
import { type MeshProcess, spawnMesh } from "../tests/helpers/mesh_process.ts";
import { freePort } from "../tests/helpers/free_port.ts";
import { findBinary } from "../tests/helpers/binaries.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    concurrency: { type: "string", default: "16" },
  },
});
const seconds = Math.min(60, Math.max(1, Number(values.seconds)));
const concurrency = Math.max(1, Number(values.concurrency));
const BODY = JSON.stringify({ prompt: "test prompt", request_id: "id_number" });

interface Result {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

const hey = findBinary("hey");
if (!hey) {
  console.error("bench: needs hey (apt-get install -y hey)");
  Deno.exit(1);
}

async function waitReady(port: number): Promise<void> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/generate`, {
        method: "POST",
        body: BODY,
      });
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Nothing answered on port ${port} within 30 s`);
}

async function load(name: string, port: number): Promise<Result> {
  const args = (s: number) => [
    "-z",
    `${s}s`,
    "-c",
    String(concurrency),
    "-m",
    "POST",
    "-T",
    "application/json",
    "-d",
    BODY,
    `http://127.0.0.1:${port}/generate`,
  ];
  await new Deno.Command(hey!, { args: args(1), stdout: "null", stderr: "null" }).output();
  console.error(`bench: ${name}: ${seconds} s at concurrency ${concurrency}...`);
  const out = await new Deno.Command(hey!, { args: args(seconds), stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  const number = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
  const statuses = [...text.matchAll(/\[(\d{3})\]\s+(\d+) responses/g)];
  const errors =
    statuses.filter(([, code]) => code !== "200").reduce((n, [, , count]) => n + Number(count), 0) +
    (text.includes("Error distribution") ? 1 : 0);
  return {
    name,
    rps: number(/Requests\/sec:\s+([\d.]+)/),
    p50: number(/50%+ in ([\d.]+) secs/) * 1000,
    p99: number(/99%+ in ([\d.]+) secs/) * 1000,
    errors,
  };
}

async function scenario(name: string, run: () => Promise<Result>): Promise<Result> {
  try {
    return await run();
  } catch (error) {
    console.error(`bench: ${name} failed: ${error instanceof Error ? error.message : error}`);
    return { name, rps: NaN, p50: NaN, p99: NaN, errors: -1 };
  }
}

const quiet = { MESH_LOG_LEVEL: "warn" };
const results: Result[] = [];

results.push(
  await scenario("baseline (bare Deno.serve)", async () => {
    const port = await freePort();
    await using _server = spawnMesh([String(port)], {
      program: [
        Deno.execPath(),
        "run",
        "--allow-net",
        "--allow-sys=hostname",
        "scripts/bench_baseline.ts",
      ],
    });
    await waitReady(port);
    return await load("baseline", port);
  }),
);

results.push(
  await scenario("embedded planes (1 process)", async () => {
    const port = await freePort();
    await using _mesh = spawnMesh(
      [
        "serve",
        "--config",
        "configs/multi_worker.yaml",
        `--Frontend.port=${port}`,
        "--Frontend.host=127.0.0.1",
      ],
      { env: quiet },
    );
    await waitReady(port);
    return await load("embedded", port);
  }),
);

results.push(
  await scenario("NATS + etcd (3 processes)", async () => {
    await using nats = await startNatsServer();
    await using etcd = await startEtcd();
    const env = { ...quiet, NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
    const port = await freePort();
    const processes: MeshProcess[] = [];
    try {
      processes.push(spawnMesh(["worker"], { env }), spawnMesh(["worker"], { env }));
      processes.push(spawnMesh(
        [
          "serve",
          "--config",
          "configs/multi_worker.yaml",
          "--only",
          "Frontend,Processor",
          `--Frontend.port=${port}`,
          "--Frontend.host=127.0.0.1",
        ],
        { env },
      ));
      await waitReady(port);
      return await load("nats", port);
    } finally {
      for (const p of processes.reverse()) await p[Symbol.asyncDispose]();
    }
  }),
);

const base = results[0]!.rps;
const fmt = (n: number, digits = 0) => Number.isFinite(n) ? n.toFixed(digits) : "-";
console.log(
  `\nhello world through the gateway, ${seconds} s per scenario, concurrency ${concurrency}, ${navigator.hardwareConcurrency} cores\n`,
);
console.log("| scenario | req/s | p50 ms | p99 ms | non-200 | vs baseline |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const r of results) {
  console.log(
    `| ${r.name} | ${fmt(r.rps)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${
      r.errors < 0 ? "failed" : r.errors
    } | ${fmt(r.rps / base, 2)} |`,
  );
}
if (results.some((r) => r.errors !== 0)) Deno.exit(1);
