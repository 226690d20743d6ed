/**
 * Which components of a graph a process starts, and in what order: all of them, the ones named
 * by `--only`, or the graph's worker (the `worker` command); each after the components it
 * depends on.
 *
 * @module
 */

import type { AnyComponent, Graph } from "../actors/component.ts";
import { ConfigError } from "../configs/config_error.ts";

/**
 * The components to start, in start order: `only` names them (an unknown name is a
 * `ConfigError`), `"worker"` picks the graph's worker, and `undefined` means all.
 */
export function selectComponents(
  graph: Graph,
  only: readonly string[] | "worker" | undefined,
): AnyComponent[] {
  const names = new Set(graph.components.map((c) => c.name));
  const chosen = only === "worker" ? [_defaultWorker(graph)] : only;
  for (const name of chosen ?? []) {
    if (!names.has(name)) {
      throw new ConfigError(
        `--only: unknown component "${name}"; the graph has ${[...names].join(", ")}`,
      );
    }
  }
  return startOrder(graph).filter((c) => !chosen || chosen.includes(c.name));
}

/** Components in start order: each after the components it depends on. */
export function startOrder(graph: Graph): AnyComponent[] {
  const ordered: AnyComponent[] = [];
  const visit = (c: AnyComponent, path: string[]) => {
    if (ordered.includes(c)) return;
    if (path.includes(c.name)) {
      throw new TypeError(`The graph has a dependency cycle: ${[...path, c.name].join(" → ")}`);
    }
    for (const dep of Object.values<AnyComponent>(c.depends ?? {})) {
      visit(dep, [...path, c.name]);
    }
    ordered.push(c);
  };
  for (const c of graph.components) visit(c, []);
  return ordered;
}

/** The component `worker` runs by default: `Worker`, else the graph's only non-HTTP component. */
function _defaultWorker(graph: Graph): string {
  const names = graph.components.map((c) => c.name);
  if (names.includes("Worker")) return "Worker";
  const candidates = graph.components.filter((c) => !c.http).map((c) => c.name);
  if (candidates.length === 1) return candidates[0]!;
  throw new ConfigError(
    `worker: name the component with --component; the graph has ${names.join(", ")}`,
  );
}
