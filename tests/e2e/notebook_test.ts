/**
 * The seed-004 notebook (`notebooks/llm_queue.ipynb`) executed headless, as a user's
 * `jupyter nbconvert --execute` would run it: Deno's kernel is installed into a temporary Jupyter
 * folder, nbconvert runs every cell, and the test reads the executed notebook. No cell fails;
 * every prompt of the second cell has an answer shown in its table; the burst's summary says
 * 105/105 with per-worker counts that add up to 105; the load chart has one bar per worker.
 *
 * Embedded: the notebook starts the whole graph inside its kernel. Cluster: a real
 * `nats-server -js`, etcd and `serve --config configs/llm_queue.yaml`; the notebook connects as an
 * observer, the answers come from the serve's worker processes, and the mesh keeps serving after
 * the notebook has closed.
 */

import assert from "node:assert/strict";
import { requireBinary } from "../helpers/binaries.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { eventually } from "../helpers/eventually.ts";
import { freePort, freePortRun } from "../helpers/free_port.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { observeMesh } from "../helpers/observer.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const NOTEBOOK = `${ROOT}notebooks/llm_queue.ipynb`;
/** The prompts of the notebook's second cell. */
const FIRST_PROMPTS = [
  "How do workers share the queue?",
  "What happens when a worker dies?",
  "Tell me about the response queue.",
];
const RUN_TIMEOUT_MS = 300_000;

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  ename?: string;
  evalue?: string;
  data?: Record<string, unknown>;
}

interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
}

interface Answer {
  prompt: string;
  text?: string;
  error?: string;
  worker: string;
  host: string;
}

interface Connection {
  mode: string;
  instances: { component: string; instance: string; pid: number }[];
}

interface Summary {
  prompts: number;
  answered: number;
  perWorker: Record<string, number>;
}

const text = (value: unknown): string => Array.isArray(value) ? value.join("") : String(value);

/** A Jupyter folder of its own with Deno's kernel in it; the user's own is left alone. */
async function jupyterHome(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "meshwork-notebook-" });
  // `deno jupyter --install` writes to $HOME/.local/share/jupyter (JUPYTER_DATA_DIR is ignored).
  const install = await new Deno.Command(Deno.execPath(), {
    args: ["jupyter", "--install", "--force"],
    env: { HOME: dir, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const said = new TextDecoder().decode(install.stdout) + new TextDecoder().decode(install.stderr);
  assert.equal(install.code, 0, said);
  await Deno.stat(`${dir}/.local/share/jupyter/kernels/deno/kernel.json`);
  return dir;
}

/** Runs `jupyter nbconvert --execute` on the notebook (bounded; stopped by its process group). */
async function executeNotebook(home: string, env: Record<string, string>): Promise<Cell[]> {
  const out = `${home}/out.ipynb`;
  const passOn = ["PATH", "HOME", "DENO_DIR", "LANG"].flatMap((name) => {
    const value = Deno.env.get(name);
    return value === undefined ? [] : [[name, value] as const];
  });
  // setsid: nbconvert and the kernel it starts form one process group, stopped together.
  const child = new Deno.Command(requireBinary("setsid"), {
    args: [
      requireBinary("jupyter"),
      "nbconvert",
      "--to",
      "notebook",
      "--execute",
      "--ExecutePreprocessor.timeout=120",
      "--ExecutePreprocessor.kernel_name=deno",
      "--output",
      out,
      NOTEBOOK,
    ],
    cwd: `${ROOT}notebooks`,
    clearEnv: true,
    env: {
      ...Object.fromEntries(passOn),
      JUPYTER_PATH: `${home}/.local/share/jupyter`,
      JUPYTER_DATA_DIR: `${home}/data`,
      JUPYTER_RUNTIME_DIR: `${home}/runtime`,
      JUPYTER_CONFIG_DIR: `${home}/config`,
      NO_COLOR: "1",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stopGroup = (signal: Deno.Signal) => {
    try {
      Deno.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => stopGroup("SIGKILL"), RUN_TIMEOUT_MS);
  try {
    const result = await child.output();
    const said = new TextDecoder().decode(result.stdout) +
      new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, `nbconvert failed:\n${said}`);
  } finally {
    clearTimeout(timer);
    stopGroup("SIGKILL"); // a kernel left behind, if any
  }
  const notebook = JSON.parse(await Deno.readTextFile(out)) as { cells: Cell[] };
  return notebook.cells;
}

/** Checks what every run shows; returns the connection, the answers and the summary. */
function checkOutputs(cells: Cell[]) {
  const outputs = cells.filter((c) => c.cell_type === "code").flatMap((c) => c.outputs ?? []);
  const errors = outputs.filter((o) => o.output_type === "error");
  assert.deepEqual(errors.map((o) => `${o.ename}: ${o.evalue}`), [], "no cell failed");
  const shown = (kind: string) => {
    const found = outputs.filter((o) =>
      (o.data?.["application/json"] as { kind?: string } | undefined)?.kind === kind
    );
    assert.equal(found.length, 1, `one "${kind}" output`);
    return { json: found[0]!.data!["application/json"], data: found[0]!.data! };
  };

  const connection = shown("connection").json as Connection;
  const workers = connection.instances.filter((i) => i.component === "inference");
  assert.equal(workers.length, 3, JSON.stringify(connection));
  assert.equal(connection.instances.filter((i) => i.component === "responder").length, 2);
  const workerIds = new Set(workers.map((w) => w.instance));

  const answers = shown("answers");
  const list = (answers.json as { answers: Answer[] }).answers;
  assert.deepEqual(list.map((a) => a.prompt), FIRST_PROMPTS);
  const table = text(answers.data["text/html"]);
  for (const a of list) {
    assert.ok(a.text && a.text.length > 0 && !a.error, JSON.stringify(a));
    assert.ok(workerIds.has(a.worker), `answered by a listed worker: ${a.worker}`);
    assert.ok(table.includes(a.worker), "the table names the worker");
  }
  assert.equal((table.match(/<tr>/g) ?? []).length, 1 + FIRST_PROMPTS.length, "a row per prompt");

  const burst = shown("burst_summary");
  const summary = burst.json as Summary;
  assert.equal(summary.prompts, 105);
  assert.equal(summary.answered, 105);
  const counts = Object.values(summary.perWorker);
  assert.equal(counts.reduce((a, b) => a + b, 0), 105);
  for (const worker of Object.keys(summary.perWorker)) assert.ok(workerIds.has(worker), worker);
  assert.match(text(burst.data["text/html"]), /Answered 105\/105 prompts in [\d.]+ s/);

  const charts = outputs.map((o) => text(o.data?.["image/svg+xml"] ?? ""));
  const load = charts.filter((svg) => svg.includes('data-chart="load"'));
  assert.equal(load.length, 1, "one load chart");
  const bars = [...load[0]!.matchAll(/<rect class="bar" data-worker="([^"]+)" data-count="(\d+)"/g)]
    .map((m) => [m[1]!, Number(m[2])] as const);
  assert.deepEqual(
    Object.fromEntries(bars),
    summary.perWorker,
    "one bar per worker, as tall as its count",
  );
  assert.equal(bars.length, Object.keys(summary.perWorker).length);
  assert.equal(charts.filter((svg) => svg.includes('data-chart="timeline"')).length, 1);
  return { connection, answers: list, summary, closed: shown("closed").json };
}

Deno.test({
  name: "notebook, embedded: runs the whole graph in its kernel and shows every answer",
  async fn() {
    requireBinary("jupyter");
    const home = await jupyterHome();
    try {
      const cells = await executeNotebook(home, {});
      const { connection, closed } = checkOutputs(cells);
      assert.equal(connection.mode, "embedded");
      assert.deepEqual(closed, { kind: "closed", mode: "embedded", workersLeft: 0 });
    } finally {
      await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "notebook, cluster: connects to a running mesh, its workers answer, the mesh runs on",
  async fn() {
    requireBinary("jupyter");
    const home = await jupyterHome();
    const logDir = await Deno.makeTempDir({ prefix: "meshwork-notebook-mesh-" });
    await using nats = await startNatsServer({ args: ["-js", "-sd", `${logDir}/jetstream`] });
    await using etcd = await startEtcd();
    const http = await freePort();
    await using observing = await observeMesh(nats.url, etcd.endpoint, "llm_queue");
    const { view } = observing;
    try {
      await using serve = spawnMesh([
        "serve",
        "--config",
        "configs/llm_queue.yaml",
        "--log-dir",
        logDir,
        "--metrics-port-base",
        String(freePortRun(5)),
        `--chat.port=${http}`,
        "--inference.token_delay_ms=3",
      ], {
        // The node telemetry agent on a free port (the shipped 9400 may be taken).
        env: { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint, MESH_TELEMETRY_PORT: "0" },
      });
      await serve.waitForOutput(/^Workers started \.\.\. press Ctrl-C to Exit$/m, 60_000);
      await eventually(
        "3 inference and 2 response workers registered",
        () => view("inference").instances.length === 3 && view("responder").instances.length === 2,
        { timeoutMs: 20_000 },
      );
      const served = new Map(view("inference").instances.map((i) => [i.instance, i.pid]));

      const cells = await executeNotebook(home, {
        NATS_SERVER: nats.url,
        ETCD_ENDPOINTS: etcd.endpoint,
      });
      const { connection, answers, summary, closed } = checkOutputs(cells);
      assert.equal(connection.mode, "cluster");
      assert.deepEqual(
        connection.instances.filter((i) => i.component === "inference").map((i) => i.instance)
          .sort(),
        [...served.keys()].sort(),
      );
      for (const worker of [...answers.map((a) => a.worker), ...Object.keys(summary.perWorker)]) {
        const pid = served.get(worker);
        assert.ok(pid !== undefined, `answered by a worker of the serve: ${worker}`);
        assert.notEqual(pid, serve.pid, "a worker process, not the serve's own");
      }
      assert.deepEqual(closed, { kind: "closed", mode: "cluster", workersLeft: 0 });

      // The notebook left the mesh alone: its workers still take prompts.
      assert.equal(view("inference").instances.length, 3);
      const response = await fetch(`http://127.0.0.1:${http}/generate`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt: "Are you still there?" }),
        signal: AbortSignal.timeout(30_000),
      });
      const body = await response.text();
      assert.equal(response.status, 200, body);
      assert.ok(served.has((JSON.parse(body) as Answer).worker), body);

      serve.kill("SIGINT");
      assert.equal((await serve.status).code, 0, serve.output());
    } finally {
      await Deno.remove(home, { recursive: true }).catch(() => {});
      await Deno.remove(logDir, { recursive: true }).catch(() => {});
    }
  },
});
