/**
 * The layers of DESIGN.md §2, checked on the real import graph (`deno info --json` over every
 * library module): a folder imports only the folders below it, `actors/` and `router/` import
 * neither each other nor anything above them, a plane implementation imports no other
 * implementation, each outside library is imported only where it belongs, and the folders form
 * no cycle. `docs/architecture.md` draws the same picture.
 */

import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

const ROOT = fromFileUrl(new URL("../../", import.meta.url));

/** The library's folders, each with its rank: a folder may import folders of a lower rank. */
const RANK: Readonly<Record<string, number>> = {
  utils: 0,
  planes: 1,
  protocol: 2,
  actors: 3,
  router: 3,
  configs: 4,
  runtime: 5,
  gateway: 6,
  deploy: 6, // the Kubernetes manifests generator (deploy/k8s/), used by bin/deploy.ts
  bin: 7, // with cli.ts: the commands
  "mod.ts": 8,
};

/** Outside packages, and the only folders that may import them. */
const OWNERS: ReadonlyArray<[RegExp, string[]]> = [
  [/^npm:\/?@nats-io\//, ["planes/nats"]],
  [/^npm:\/?hono@/, ["gateway"]],
  [/^npm:\/?yaml@/, ["configs", "deploy/k8s"]], // deploy/k8s only writes YAML (manifests)
];

/** Where an outside package is resolved to, from `deno.json`'s import map. */
interface Edge {
  from: string;
  to: string;
}

async function moduleGraph(): Promise<{ local: Edge[]; outside: Edge[] }> {
  const files: string[] = [];
  for (const top of [...Object.keys(RANK), "examples"]) {
    const path = join(ROOT, top);
    if (top.endsWith(".ts")) {
      files.push(path);
      continue;
    }
    for await (const file of walk(path)) files.push(file);
  }
  const rootModule = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      rootModule,
      files.map((f) => `import ${JSON.stringify(f)};`).join("\n"),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", rootModule],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout));
    const local: Edge[] = [];
    const outside: Edge[] = [];
    for (const module of info.modules) {
      if (!module.local?.startsWith(ROOT)) continue;
      const from = relative(ROOT, module.local);
      for (const dep of module.dependencies ?? []) {
        for (const resolved of [dep.code?.specifier, dep.type?.specifier]) {
          if (!resolved) continue;
          if (resolved.startsWith("file://")) {
            local.push({ from, to: relative(ROOT, fromFileUrl(resolved)) });
          } else outside.push({ from, to: resolved });
        }
      }
    }
    return { local, outside };
  } finally {
    await Deno.remove(rootModule);
  }
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** `planes/nats/nats_bus.ts` → `planes`; `cli.ts` → `cli.ts`. */
function layerOf(path: string): string {
  if (path === "cli.ts") return "bin";
  return path.includes("/") ? path.slice(0, path.indexOf("/")) : path;
}

/** `planes/nats/nats_bus.ts` → `planes/nats`; `planes/bus.ts` → `planes`. */
function folderOf(path: string): string {
  if (path === "cli.ts") return "bin";
  return path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : path;
}

const graph = await moduleGraph();

/** The rule an import from `from` to `to` breaks, or undefined. */
function brokenRule(from: string, to: string): string | undefined {
  const [a, b] = [layerOf(from), layerOf(to)];
  if (a === "examples") {
    return b === "bin" ? "an example imports a command" : undefined;
  }
  if (b === "examples") {
    return a === "bin" || a === "examples" ? undefined : "the library imports an example";
  }
  const [ra, rb] = [RANK[a], RANK[b]];
  if (ra === undefined || rb === undefined) return `${b} is not a library layer`;
  if (a === b) {
    if (a !== "planes") return undefined;
    const [fa, fb] = [folderOf(from), folderOf(to)];
    return fa !== fb && fb !== "planes" ? "a plane implementation imports another one" : undefined;
  }
  if (ra === rb) return `${a}/ and ${b}/ stand side by side`;
  return rb > ra ? `${a}/ imports ${b}/, a layer above it` : undefined;
}

Deno.test("every import goes down the layers of DESIGN.md §2", () => {
  assert.ok(graph.local.length > 100, `only ${graph.local.length} imports found`);
  const broken = graph.local
    .map(({ from, to }) => ({ from, to, rule: brokenRule(from, to) }))
    .filter((e) => e.rule)
    .map((e) => `${e.from} → ${e.to}: ${e.rule}`);
  assert.deepEqual([...new Set(broken)], []);
});

Deno.test("the folders form no cycle", () => {
  const edges = new Map<string, Set<string>>();
  for (const { from, to } of graph.local) {
    const [a, b] = [folderOf(from), folderOf(to)];
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)!.add(b);
  }
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const visit = (node: string, path: string[]) => {
    if (state.get(node) === "done") return;
    if (state.get(node) === "open") {
      cycles.push([...path.slice(path.indexOf(node)), node].join(" → "));
      return;
    }
    state.set(node, "open");
    for (const next of edges.get(node) ?? []) visit(next, [...path, node]);
    state.set(node, "done");
  };
  for (const node of edges.keys()) visit(node, []);
  assert.deepEqual(cycles, []);
});

Deno.test("each outside library is imported only by the folder that owns it", () => {
  const broken: string[] = [];
  for (const { from, to } of graph.outside) {
    for (const [pattern, owners] of OWNERS) {
      if (pattern.test(to) && !owners.some((o) => from.startsWith(`${o}/`))) {
        broken.push(`${from} → ${to}`);
      }
    }
  }
  assert.deepEqual([...new Set(broken)], []);
});

Deno.test("only configs/ reads environment variables, only gateway/ calls Deno.serve", async () => {
  const broken: string[] = [];
  for (const file of new Set(graph.local.flatMap((e) => [e.from, e.to]))) {
    const layer = layerOf(file);
    if (!(layer in RANK) || layer === "mod.ts") continue;
    const code = (await Deno.readTextFile(join(ROOT, file)))
      .split("\n")
      .filter((line) => !/^\s*(\*|\/\/)/.test(line))
      .join("\n");
    if (/Deno\.env\b/.test(code) && layer !== "configs") broken.push(`${file} reads Deno.env`);
    if (/Deno\.serve\(/.test(code) && layer !== "gateway") broken.push(`${file} calls Deno.serve`);
  }
  assert.deepEqual(broken.sort(), []);
});
