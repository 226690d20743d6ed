/**
 * `deno task bench`: the hello-world path through the mesh against a bare baseline written by
 * hand with the same libraries (DESIGN §8b), in the same run, interleaved A B B A so that the
 * machine's drift cancels:
 *
 * - `embedded`: `serve --config configs/multi_worker.yaml` (one process) vs a bare Hono app
 *   doing the same transform (`scripts/bare_chain/embedded.ts`);
 * - `nats`: real nats-server and etcd; Frontend+Processor in one process and 2 Worker processes
 *   vs the bare chain (Hono + raw `@nats-io/transport-node`, `scripts/bare_chain/`) in the same
 *   layout;
 * - `split`: gateway, Processor and 2 Workers each a process, mesh and bare chain alike;
 * - `instances`: the cost of many instances: the `nats` layout with one worker process running
 *   2000 Worker instances against the same with 2 (in the "bare" column), each side on its own
 *   nats-server and etcd;
 * - `reference`: a bare `Deno.serve` (`scripts/bench_baseline.ts`), one row, no pair;
 * - `floor` (only when named): the `nats` layout with floor workers in the mesh's place
 *   (`scripts/bench/floor_worker.ts`, one constant reply frame per request, nothing decoded),
 *   which measures what the front, the wire and the registry cost whatever a worker does.
 *
 * Load: `wrk -t2 -c32` and `wrk -t1 -c1` (`--concurrency 32,1`), POST /generate on 127.0.0.1.
 * Once both sides answer, each gets `--warmup` seconds (default 10) of unmeasured load at each
 * concurrency, so that what is measured is the steady state: V8 keeps compiling the mesh's
 * larger code for about 10 s at one connection (135 TurboFan compiles in the front's first 10 s,
 * 3 in the next; its CPU per request fell from 228 to 196 µs and its p99 from 2.3 to 1.1 ms).
 * Each side gets `--seconds` (default 10) of measured load per concurrency and round, in two
 * halves (A B B A), each after a 1 s warm-up. Printed per side: req/s, p50, p99, errors (non-2xx
 * and socket errors), the ratio to the bare side, and CPU µs per request of every process
 * (`utime + stime` from `/proc/<pid>/stat` around the measured runs). The same figures go to
 * `--json FILE` (default `bench.json`). `--profile` runs the `nats` mesh's front and one worker
 * under V8's `--prof` and prints the top of `node --prof-process` for each.
 *
 * Options: `--scenarios reference,embedded,nats,...` (default all but `floor`), `--seconds N`,
 * `--rounds N` (default 1), `--warmup N`, `--concurrency 32,1`, `--json FILE`, `--profile`. The
 * exit code is 0 when every scenario ran without errors and the bare answers equal the mesh's, 1
 * otherwise.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type LoadFigures, Wrk } from "./bench/load.ts";
import { clockTicks, cpuTicks, machine, programOf } from "./bench/proc.ts";
import { printProfiles } from "./bench/profile.ts";
import { SCENARIOS, type Side } from "./bench/scenarios.ts";

/** Scenarios measured by their own scripts (seed 002's planes), after the HTTP ones. */
const PLANE_BENCHES: Readonly<Record<string, string>> = {
  queue: "scripts/bench/work_queue_bench.ts",
  data: "scripts/bench/data_plane_bench.ts",
};
const ALL_KEYS = [...SCENARIOS.map((s) => s.key), ...Object.keys(PLANE_BENCHES)];
const OPTIONAL_KEYS = SCENARIOS.filter((s) => s.optional).map((s) => s.key);
const DEFAULT_KEYS = ALL_KEYS.filter((key) => !OPTIONAL_KEYS.includes(key));

const USAGE = `deno task bench [--scenarios ${ALL_KEYS.join(",")}]
                [--seconds 10] [--rounds 1] [--warmup 10] [--concurrency 32,1] [--json bench.json] [--profile]`;

function _args() {
  try {
    return parseArgs({
      options: {
        seconds: { type: "string", default: "10" },
        rounds: { type: "string", default: "1" },
        warmup: { type: "string", default: "10" },
        scenarios: { type: "string", default: DEFAULT_KEYS.join(",") },
        concurrency: { type: "string", default: "32,1" },
        json: { type: "string", default: "bench.json" },
        profile: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.message : error}\nusage: ${USAGE}`);
    Deno.exit(2);
  }
}

const { values } = _args();
if (values.help) {
  console.log(`usage: ${USAGE}`);
  Deno.exit(0);
}
const seconds = Math.min(120, Math.max(1, Number(values.seconds) || 10));
const rounds = Math.min(10, Math.max(1, Number(values.rounds) || 1));
const halfSeconds = Math.max(1, Math.ceil(seconds / 2));
const warmupSeconds = Math.min(120, Math.max(0, Number(values.warmup) || 0));
const levels = values.concurrency.split(",").map(Number).filter((n) => n >= 1);
const wanted = values.scenarios.split(",").map((s) => s.trim()).filter(Boolean);
const unknown = wanted.filter((k) => !ALL_KEYS.includes(k));
if (unknown.length || levels.length === 0) {
  console.error(
    `bench: unknown scenario ${unknown.join(",")} (known: ${ALL_KEYS.join(",")})`,
  );
  Deno.exit(2);
}
const TICKS = clockTicks();

/** The figures of one side at one concurrency, summed over its runs. */
interface SideResult extends LoadFigures {
  side: string;
  label: string;
  concurrency: number;
  /** CPU µs per request, per process. */
  cpuUsPerRequest: Record<string, number>;
  runs: (LoadFigures & { slot: number; round: number; cpuTicks: Record<string, number> })[];
}

interface ScenarioResult {
  key: string;
  name: string;
  error?: string;
  /** The answers to the same body; `equal` compares the JSON values, `sameBytes` the bytes. */
  answers?: { bare: string; mesh?: string; equal: boolean; sameBytes: boolean };
  programs?: Record<string, Record<string, string>>;
  results: SideResult[];
}

function sameJson(a: string, b: string): boolean {
  try {
    const norm = (v: unknown): unknown =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => x < y ? -1 : 1))
        : v;
    return JSON.stringify(norm(JSON.parse(a))) === JSON.stringify(norm(JSON.parse(b)));
  } catch {
    return false;
  }
}

async function measure(wrk: Wrk, side: Side, concurrency: number) {
  let before: number[] = [];
  let after: number[] = [];
  const figures = await wrk.run(side.port, concurrency, halfSeconds, {
    before: () => (before = side.processes.map((p) => cpuTicks(p.pid))),
    after: () => (after = side.processes.map((p) => cpuTicks(p.pid))),
  });
  const ticks = Object.fromEntries(side.processes.map((p, i) => [p.name, after[i]! - before[i]!]));
  return { ...figures, cpuTicks: ticks };
}

function summarize(side: string, label: string, concurrency: number, runs: SideResult["runs"]) {
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  const durationS = runs.reduce((n, r) => n + r.durationS, 0);
  const mean = (f: (r: SideResult["runs"][number]) => number) =>
    runs.reduce((n, r) => n + f(r), 0) / runs.length;
  const cpu: Record<string, number> = {};
  for (const name of Object.keys(runs[0]?.cpuTicks ?? {})) {
    const ticks = runs.reduce((n, r) => n + (r.cpuTicks[name] ?? NaN), 0);
    cpu[name] = ticks * 1e6 / TICKS / requests;
  }
  return {
    side,
    label,
    concurrency,
    requests,
    durationS,
    rps: requests / durationS,
    p50Ms: mean((r) => r.p50Ms),
    p99Ms: mean((r) => r.p99Ms),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    cpuUsPerRequest: cpu,
    runs,
  };
}

const host = machine();
const started = Date.now();
const results: ScenarioResult[] = [];
await using wrk = await Wrk.create();
const profileDir = values.profile
  ? await Deno.makeTempDir({ prefix: "meshwork-bench-prof-" })
  : undefined;

for (const scenario of SCENARIOS.filter((s) => wanted.includes(s.key))) {
  const result: ScenarioResult = { key: scenario.key, name: scenario.name, results: [] };
  results.push(result);
  console.error(`bench: ${scenario.key}: starting ${scenario.name}`);
  try {
    await using pair = await scenario.start(scenario.key === "nats" ? profileDir : undefined);
    const sides = { bare: pair.bare, ...(pair.mesh ? { mesh: pair.mesh } : {}) } as Record<
      string,
      Side
    >;
    result.programs = Object.fromEntries(
      Object.entries(sides).map(([k, s]) => [
        k,
        Object.fromEntries(s.processes.map((p) => [p.name, `${programOf(p.pid)} pid ${p.pid}`])),
      ]),
    );
    const equal = pair.mesh ? sameJson(pair.bare.answer, pair.mesh.answer) : true;
    const sameBytes = !pair.mesh || pair.bare.answer === pair.mesh.answer;
    result.answers = { bare: pair.bare.answer, mesh: pair.mesh?.answer, equal, sameBytes };
    for (const [name, program] of Object.entries(result.programs.mesh ?? {})) {
      if (!/^(deno|nats-server|etcd) /.test(program)) {
        console.error(
          `bench: ${scenario.key}: ${name} runs ${program}, not deno: CPU is the wrapper's`,
        );
      }
    }
    if (profileDir && scenario.key === "nats" && pair.mesh) pair.mesh.label += " (under --prof)";
    if (!equal) {
      console.error(`bench: ${scenario.key}: the answers differ:`);
      console.error(`  bare: ${JSON.stringify(pair.bare.answer)}`);
      console.error(`  mesh: ${JSON.stringify(pair.mesh?.answer)}`);
    }
    const order = pair.mesh ? ["bare", "mesh", "mesh", "bare"] : ["bare"];
    if (warmupSeconds > 0) {
      for (const concurrency of levels) {
        for (const [key, side] of Object.entries(sides)) {
          console.error(
            `bench: ${scenario.key}: warm-up, c${concurrency}, ${key} (${warmupSeconds} s)`,
          );
          await wrk.warm(side.port, concurrency, warmupSeconds);
        }
      }
    }
    const runs: Record<string, SideResult["runs"]> = {};
    for (let round = 1; round <= rounds; round++) {
      for (const concurrency of levels) {
        for (const [slot, key] of order.entries()) {
          console.error(
            `bench: ${scenario.key}: round ${round}, c${concurrency}, ${key} (${halfSeconds} s)`,
          );
          const run = await measure(wrk, sides[key]!, concurrency);
          (runs[`${key} ${concurrency}`] ??= []).push({ ...run, slot, round });
        }
      }
    }
    for (const concurrency of levels) {
      for (const [key, side] of Object.entries(sides)) {
        result.results.push(
          summarize(key, side.label, concurrency, runs[`${key} ${concurrency}`] ?? []),
        );
      }
    }
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    console.error(`bench: ${scenario.key} failed: ${result.error}`);
  }
}

let ok = results.every((r) =>
  !r.error && r.answers?.equal && r.results.every((s) => s.errors === 0 && s.requests > 0)
);
const fmt = (n: number | undefined, digits = 0) =>
  n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : "-";
const cpuText = (cpu: Record<string, number>) =>
  Object.entries(cpu).map(([name, us]) => `${name} ${fmt(us)}`).join(", ");
const cpuTotal = (cpu: Record<string, number>) => Object.values(cpu).reduce((n, v) => n + v, 0);

console.log(
  `\n## hello world through the gateway: mesh vs bare, interleaved A B B A\n\n` +
    `${host.hostname}: ${host.cores} cores, ${host.cpu}; Deno ${Deno.version.deno}; ` +
    `${warmupSeconds} s of warm-up per side and concurrency first; ` +
    `${seconds} s measured per side, concurrency and round (2 × ${halfSeconds} s, 1 s warm-up ` +
    `each); ${rounds} round(s); wrk; CPU from /proc (CLK_TCK ${TICKS}); ` +
    `${Math.round((Date.now() - started) / 1000)} s in all\n`,
);
console.log(
  "| scenario | c | side | req/s | p50 ms | p99 ms | errors | req/s ÷ bare | p99 ÷ bare | CPU µs/req total | CPU µs/req per process |",
);
console.log("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
for (const r of results) {
  if (r.error) {
    console.log(`| ${r.key} | | failed | | | | | | | | ${r.error.split("\n")[0]} |`);
    continue;
  }
  for (const s of r.results) {
    const base = r.results.find((b) => b.side === "bare" && b.concurrency === s.concurrency);
    const ratio = s.side === "bare" ? ["1", "1"] : [
      fmt(s.rps / base!.rps, 3),
      fmt(s.p99Ms / base!.p99Ms, 2),
    ];
    console.log(
      `| ${r.key} | ${s.concurrency} | ${s.label} | ${fmt(s.rps)} | ${fmt(s.p50Ms, 2)} | ${
        fmt(s.p99Ms, 2)
      } | ${s.errors} | ${ratio[0]} | ${ratio[1]} | ${fmt(cpuTotal(s.cpuUsPerRequest))} | ${
        cpuText(s.cpuUsPerRequest)
      } |`,
    );
  }
}
for (const r of results.filter((r) => r.answers?.equal && !r.answers.sameBytes)) {
  console.log(
    `\n${r.key}: same JSON, different bytes: bare ${JSON.stringify(r.answers!.bare)}, mesh ${
      JSON.stringify(r.answers!.mesh)
    }`,
  );
}
for (const r of results.filter((r) => r.answers && !r.answers.equal)) {
  console.log(
    `\n${r.key}: the answers differ:\n  bare: ${r.answers!.bare}\n  mesh: ${r.answers!.mesh}`,
  );
}

const jsonPath = values.json;
await Deno.writeTextFile(
  jsonPath,
  JSON.stringify(
    {
      date: new Date(started).toISOString(),
      machine: { ...host, deno: Deno.version.deno, clockTicks: TICKS },
      options: {
        seconds,
        halfSeconds,
        warmupSeconds,
        rounds,
        concurrency: levels,
        profile: values.profile,
      },
      ok,
      scenarios: results,
    },
    null,
    2,
  ) + "\n",
);
console.error(`bench: results written to ${await Deno.realPath(jsonPath)}`);
if (profileDir) await printProfiles(profileDir);
for (const [key, script] of Object.entries(PLANE_BENCHES)) {
  if (!wanted.includes(key)) continue;
  console.error(`bench: ${key}: ${script}`);
  console.log("");
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", script],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!run.success) ok = false;
}
Deno.exit(ok ? 0 : 1);
