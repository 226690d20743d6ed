/**
 * `deno task client --config FILE`: where the config's gateway listens (the `port` and `host` of
 * its HTTP component, overrides applied), and whether its graph is seed 002's encoder/decoder,
 * whose requests are tensors (`--tensor`).
 *
 * @module
 */

import { resolve } from "node:path";
import { resolveConfig } from "../configs/resolve.ts";
import { readConfigFile } from "../configs/yaml_document.ts";
import { loadGraph } from "./load_graph.ts";
import { graphSchemas } from "./serve.ts";

/** What the client takes from a config file. */
export interface ClientTarget {
  /** `http://<host>:<port>/generate` (a wildcard host becomes `127.0.0.1`). */
  url: string;
  /** The graph is seed 002's (its front is `encoder_decoder`): send tensors. */
  tensor: boolean;
}

/** Reads `path` (and its graph) and returns where to send requests. */
export async function clientTarget(path: string, overrides: string[] = []): Promise<ClientTarget> {
  if (Deno.permissions.querySync({ name: "read" }).state !== "granted") {
    throw new Error(
      `--config needs read access to "${path}": run the client with --allow-read, or give --url`,
    );
  }
  const doc = await readConfigFile(path);
  const graph = await loadGraph(doc.graph ? resolve(doc.graph) : undefined);
  const config = resolveConfig(doc, graphSchemas(graph), { overrides });
  const front = graph.components.find((c) => c.http);
  if (!front) throw new Error(`The graph of "${path}" has no HTTP component to send requests to`);
  const values = config.components[front.name]!.values;
  const host = String(values.host ?? "127.0.0.1");
  const reachable = host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host;
  const shown = reachable.includes(":") ? `[${reachable}]` : reachable;
  return {
    url: `http://${shown}:${values.port}/generate`,
    tensor: front.name === "encoder_decoder",
  };
}
