/**
 * Finds the graph a config names. Built-in graphs are imported statically, so a compiled binary
 * carries them; a config whose `graph:` path ends like a built-in's uses it without a dynamic
 * import. Any other path is imported at run time.
 *
 * @module
 */

import type { Graph } from "../actors/component.ts";
import helloWorld from "../examples/hello_world/graph.ts";
import encoderDecoder from "../examples/encoder_decoder/graph.ts";

/** Graphs inside every build, by the path suffix a config uses to name them. */
export const BUILT_IN_GRAPHS: Record<string, Graph> = {
  "examples/hello_world/graph.ts": helloWorld,
  "examples/encoder_decoder/graph.ts": encoderDecoder,
};

/** The graph used when no config names one. */
export const DEFAULT_GRAPH: Graph = helloWorld;

function isGraph(value: unknown): value is Graph {
  const graph = value as Graph | undefined;
  return typeof graph?.namespace === "string" && Array.isArray(graph.components);
}

/** Loads the graph at `path` (absolute, or a URL): a built-in, or the module's default export. */
export async function loadGraph(path: string | undefined): Promise<Graph> {
  if (!path) return DEFAULT_GRAPH;
  const normalized = path.replaceAll("\\", "/");
  for (const [suffix, graph] of Object.entries(BUILT_IN_GRAPHS)) {
    if (normalized.endsWith(`/${suffix}`) || normalized === suffix) return graph;
  }
  const url = /^[a-z]+:/i.test(path) ? path : new URL(`file://${path}`).href;
  let module: Record<string, unknown>;
  try {
    module = await import(url);
  } catch (error) {
    throw new Error(
      `Cannot load the graph module "${path}": ${error instanceof Error ? error.message : error}`,
    );
  }
  const graph = module.default ?? module.graph;
  if (!isGraph(graph)) {
    throw new Error(
      `The graph module "${path}" must export a graph (export default graph("ns", [...]))`,
    );
  }
  return graph;
}
