/**
 * The scenarios of `deno task bench`, each a pair of sides started side by side: the bare
 * baseline (A) and the mesh (B). A side is a set of processes behind one HTTP port.
 *
 * @module
 */

import { MESH_PERMISSIONS, SERVE_PERMISSIONS } from "../../bin/permissions.ts";
import { startEtcd } from "../../tests/helpers/etcd_server.ts";
import { freePort } from "../../tests/helpers/free_port.ts";
import { type MeshProcess, spawnMesh } from "../../tests/helpers/mesh_process.ts";
import { startNatsServer } from "../../tests/helpers/nats_server.ts";
import { BODY } from "./load.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CONFIG = "configs/multi_worker.yaml";
/** The mesh runs at the default log level (`info`), as users run it: nothing is given up. */
const LOGS = { MESH_LOG_LEVEL: "info" };

/** A process whose CPU time is sampled. */
export interface Measured {
  name: string;
  pid: number;
}

/** One side of a scenario: its processes, its port, and the answer to the hello-world body. */
export interface Side extends AsyncDisposable {
  label: string;
  port: number;
  processes: Measured[];
  /** The body of the first 200 answer. */
  answer: string;
}

/** A scenario: a bare baseline and (unless it is the reference row) the mesh. */
export interface Scenario {
  key: string;
  name: string;
  /** Run only when asked for by name (`--scenarios`), not by default. */
  optional?: boolean;
  /** Starts both sides; `profileDir` asks the mesh side to write V8 profiles there. */
  start(profileDir?: string): Promise<{ bare: Side; mesh?: Side } & AsyncDisposable>;
}

/** Posts the body until a 200 comes back (30 s at most); resolves with the answer's text. */
export async function waitReady(port: number, processes: MeshProcess[]): Promise<string> {
  const until = Date.now() + 30_000;
  let last = "nothing answered";
  while (Date.now() < until) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/generate`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: BODY,
      });
      const text = await response.text();
      if (response.status === 200) return text;
      last = `${response.status} ${text}`;
    } catch (error) {
      last = String(error);
    }
    if (processes.some((p) => p.output().includes("error:"))) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const outputs = processes.map((p) => `--- pid ${p.pid}:\n${p.output().slice(-2000)}`);
  throw new Error(`Port ${port} did not answer 200 (${last}):\n${outputs.join("\n")}`);
}

function bare(script: string, args: string[], env: Record<string, string> = {}): MeshProcess {
  return spawnMesh(args, {
    program: [Deno.execPath(), "run", ...MESH_PERMISSIONS, `${ROOT}scripts/${script}`],
    env,
  });
}

function mesh(args: string[], env: Record<string, string>, profileLog?: string): MeshProcess {
  const v8 = profileLog
    ? [`--v8-flags=--prof,--no-logfile-per-isolate,--logfile=${profileLog}`]
    : [];
  const permissions = args[0] === "serve" ? SERVE_PERMISSIONS : MESH_PERMISSIONS;
  return spawnMesh(args, {
    program: [Deno.execPath(), "run", ...v8, ...permissions, `${ROOT}cli.ts`],
    env: { ...LOGS, ...env },
  });
}

/** Args of `serve` with the gateway on 127.0.0.1:`port`, running `only` these components if set. */
function serveArgs(port: number, only?: string, ...extra: string[]): string[] {
  return [
    "serve",
    "--config",
    CONFIG,
    ...(only ? ["--only", only] : []),
    `--Frontend.port=${port}`,
    "--Frontend.host=127.0.0.1",
    ...extra,
  ];
}

/** Starts `named` processes, waits for `ready` lines, then for a 200 on `port`. */
async function side(
  label: string,
  port: number,
  named: Named,
  readyLine?: RegExp,
): Promise<Side> {
  const started: [string, MeshProcess][] = [];
  const dispose = async () => {
    for (const [, p] of started.reverse()) await p[Symbol.asyncDispose]();
  };
  try {
    for (const [name, spawn] of named) started.push([name, spawn()]);
    if (readyLine) await Promise.all(started.map(([, p]) => p.waitForOutput(readyLine, 30_000)));
    const answer = await waitReady(port, started.map(([, p]) => p));
    return {
      label,
      port,
      answer,
      processes: started.map(([name, p]) => ({ name, pid: p.pid })),
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** Both sides, started in parallel; a failure stops what did start. */
async function pair(
  bareSide: () => Promise<Side>,
  meshSide: (() => Promise<Side>) | undefined,
  extra: Measured[] = [],
  cleanup: () => Promise<void> = async () => {},
): Promise<{ bare: Side; mesh?: Side } & AsyncDisposable> {
  const settled = await Promise.allSettled([bareSide(), meshSide?.()]);
  const sides = settled.flatMap((s) => s.status === "fulfilled" && s.value ? [s.value] : []);
  const dispose = async () => {
    for (const s of sides) await s[Symbol.asyncDispose]();
    await cleanup();
  };
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) {
    await dispose();
    throw (failed as PromiseRejectedResult).reason;
  }
  for (const s of sides) s.processes.push(...extra);
  return { bare: sides[0]!, mesh: sides[1], [Symbol.asyncDispose]: dispose };
}

/** nats-server and etcd for one scenario (a fresh registry each time). */
async function cluster() {
  const nats = await startNatsServer();
  try {
    const etcd = await startEtcd();
    return {
      env: { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint },
      measured: [{ name: "nats-server", pid: nats.pid }, { name: "etcd", pid: etcd.pid! }],
      stop: async () => {
        await etcd[Symbol.asyncDispose]();
        await nats[Symbol.asyncDispose]();
      },
    };
  } catch (error) {
    await nats[Symbol.asyncDispose]();
    throw error;
  }
}

const READY = /ready/;

/** Instances of the Worker in the one worker process of the `instances` scenario's sides. */
const FEW_INSTANCES = 2;
const MANY_INSTANCES = 2000;

/**
 * One side of the `instances` scenario on its own nats-server and etcd (measured with it): the
 * front (Frontend + Processor, waiting until every Worker is live) and one worker process running
 * `instances` Worker instances.
 */
async function instancesSide(label: string, instances: number): Promise<Side> {
  const c = await cluster();
  try {
    const port = await freePort();
    const s = await side(label, port, [
      ["worker", () => mesh(["worker", "--instances", String(instances)], c.env)],
      ["front", () =>
        mesh(
          serveArgs(port, "Frontend,Processor", `--Processor.min_workers=${instances}`),
          c.env,
        )],
    ]);
    s.processes.push(...c.measured);
    const dispose = s[Symbol.asyncDispose];
    s[Symbol.asyncDispose] = async () => {
      await dispose();
      await c.stop();
    };
    return s;
  } catch (error) {
    await c.stop();
    throw error;
  }
}

type Named = [string, () => MeshProcess][];

/**
 * Both sides of a NATS scenario on one nats-server and etcd (measured with them): the bare
 * chain's processes and the mesh's, each given the cluster's environment and its side's port.
 */
async function clusterPair(
  bareSide: (env: Record<string, string>, port: number) => Named,
  meshSide: (env: Record<string, string>, port: number) => Named,
): Promise<{ bare: Side; mesh?: Side } & AsyncDisposable> {
  const c = await cluster();
  const [barePort, meshPort] = [await freePort(), await freePort()];
  return pair(
    () => side("bare chain", barePort, bareSide(c.env, barePort), READY),
    () => side("mesh", meshPort, meshSide(c.env, meshPort)),
    c.measured,
    c.stop,
  );
}

/**
 * Node 1's layout: the bare chain (two bare workers, the bare front) against the mesh's front
 * (Frontend + Processor) with two workers from `worker`.
 */
function nodeOneLayout(
  worker: (env: Record<string, string>, n: number) => MeshProcess,
  profileDir?: string,
): Promise<{ bare: Side; mesh?: Side } & AsyncDisposable> {
  return clusterPair(
    (env, port) => [
      ["worker1", () => bare("bare_chain/worker.ts", [], env)],
      ["worker2", () => bare("bare_chain/worker.ts", [], env)],
      ["front", () => bare("bare_chain/front.ts", [String(port), "node1"], env)],
    ],
    (env, port) => [
      ["worker1", () => worker(env, 1)],
      ["worker2", () => worker(env, 2)],
      [
        "front",
        () =>
          mesh(serveArgs(port, "Frontend,Processor"), env, profileDir && `${profileDir}/front.log`),
      ],
    ],
  );
}

/** Every scenario, in the order they run. */
export const SCENARIOS: Scenario[] = [
  {
    key: "reference",
    name: "reference: bare Deno.serve, no Hono",
    async start() {
      const port = await freePort();
      return pair(
        () =>
          side("Deno.serve", port, [["server", () => bare("bench_baseline.ts", [String(port)])]]),
        undefined,
      );
    },
  },
  {
    key: "embedded",
    name: "embedded planes, 1 process",
    async start() {
      const [barePort, meshPort] = [await freePort(), await freePort()];
      return pair(
        () =>
          side("bare Hono", barePort, [[
            "server",
            () => bare("bare_chain/embedded.ts", [String(barePort)]),
          ]]),
        () =>
          side("mesh", meshPort, [[
            "server",
            () => mesh(serveArgs(meshPort), {}),
          ]]),
      );
    },
  },
  {
    key: "nats",
    name: "NATS + etcd, node 1 layout: front (+Processor) and 2 worker processes",
    start: (profileDir) =>
      nodeOneLayout(
        (env, n) =>
          mesh(["worker"], env, n === 1 && profileDir ? `${profileDir}/worker1.log` : undefined),
        profileDir,
      ),
  },
  {
    key: "floor",
    name: "NATS + etcd, node 1 layout, the mesh's workers replaced by floor workers " +
      "(scripts/bench/floor_worker.ts: one constant frame per request, nothing read)",
    optional: true,
    start: () => nodeOneLayout((env) => bare("bench/floor_worker.ts", [], env)),
  },
  {
    key: "split",
    name: "NATS + etcd, split layout: gateway, processor, 2 worker processes",
    start: () =>
      clusterPair(
        (env, port) => [
          ["worker1", () => bare("bare_chain/worker.ts", [], env)],
          ["worker2", () => bare("bare_chain/worker.ts", [], env)],
          ["processor", () => bare("bare_chain/processor.ts", [], env)],
          ["gateway", () => bare("bare_chain/front.ts", [String(port), "split"], env)],
        ],
        (env, port) => [
          ["worker1", () => mesh(["worker"], env)],
          ["worker2", () => mesh(["worker"], env)],
          ["processor", () => mesh(["serve", "--config", CONFIG, "--only", "Processor"], env)],
          ["gateway", () => mesh(serveArgs(port, "Frontend"), env)],
        ],
      ),
  },
  {
    key: "instances",
    name: `NATS + etcd, one worker process: ${MANY_INSTANCES} Worker instances ("mesh") ` +
      `against ${FEW_INSTANCES} ("bare"), each side on its own nats-server and etcd`,
    start() {
      return pair(
        () => instancesSide(`${FEW_INSTANCES} instances`, FEW_INSTANCES),
        () => instancesSide(`${MANY_INSTANCES} instances`, MANY_INSTANCES),
      );
    },
  },
];
