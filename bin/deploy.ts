/**
 * `deno task deploy k8s`: Kubernetes manifests for a graph config (docs/kubernetes.md).
 *
 * ```sh
 * deno task deploy k8s --config configs/multi_worker.yaml                    # to stdout
 * deno task deploy k8s --config configs/multi_worker.yaml --image registry.example.com/meshwork:0.1.0 \
 *   --namespace meshwork --with-infra --out k8s/                            # one file per object
 * ```
 *
 * Per component a Deployment (replicas: `ServiceArgs.workers`, one instance per pod), a
 * PodDisruptionBudget, a Service for the HTTP component; the config as a ConfigMap; with
 * `--with-infra` a 3-node NATS (JetStream) cluster and a 3-member etcd cluster. The pods run the
 * image of the repository's `Dockerfile` with the least-privilege flags of `bin/permissions.ts`.
 * The local environment is not read into the manifests: `NATS_SERVER` and `ETCD_ENDPOINTS` of
 * the pods come from `--nats` and `--etcd`.
 *
 * @module
 */

import { isAbsolute, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { resolveConfig } from "../configs/resolve.ts";
import { readConfigFile } from "../configs/yaml_document.ts";
import { type DeployOptions, planDeployment } from "../deploy/k8s/deploy_plan.ts";
import type { K8sObject } from "../deploy/k8s/k8s_object.ts";
import { manifestFiles, manifestsYaml } from "../deploy/k8s/manifest_yaml.ts";
import { renderManifests } from "../deploy/k8s/manifests.ts";
import { MESHWORK_VERSION } from "../runtime/runtime.ts";
import { parseArgs, UsageError } from "./args.ts";
import { loadGraph } from "./load_graph.ts";
import { MESH_PERMISSIONS } from "./permissions.ts";
import { graphSchemas } from "./serve.ts";

const USAGE = `Usage:
  deno task deploy k8s --config FILE [--image IMAGE] [--namespace NS] [--out DIR]
                       [--with-infra] [--nats URL] [--etcd URL] [--Component.key=value ...]

Writes Kubernetes manifests for the graph of FILE to stdout, or one file per object to DIR.

Options:
  -f, --config FILE   the graph's YAML config (its components' kubernetes: sections too)
  --image IMAGE       container image built from the Dockerfile (default meshwork:${MESHWORK_VERSION})
  --namespace NS      Kubernetes namespace of every object (default: kubectl's)
  --out DIR           write 01-<kind>-<name>.yaml, ... into DIR instead of stdout
  --with-infra        also a 3-node NATS cluster (JetStream) and a 3-member etcd cluster
  --nats URL          NATS_SERVER of the pods (default ${"nats://nats:4222"})
  --etcd URL          ETCD_ENDPOINTS of the pods (default ${"http://etcd:2379"})
  --Component.key=value
                      an override, applied here (replicas) and handed to every pod
`;

/** Where the image holds the project (the Dockerfile's WORKDIR). */
export const IMAGE_ROOT = "/app";

/** The container command of every mesh pod: the worker's flags, no subprocesses. */
export const POD_COMMAND: readonly string[] = [
  "deno",
  "run",
  ...MESH_PERMISSIONS,
  "--cached-only",
  `${IMAGE_ROOT}/cli.ts`,
];

const _PROJECT = fileURLToPath(new URL("../", import.meta.url));

/** The settings of one `deploy k8s` run. */
export interface DeploySettings {
  configPath: string;
  image?: string;
  namespace?: string;
  withInfra?: boolean;
  nats?: string;
  etcd?: string;
  overrides?: string[];
}

/** The objects `deploy k8s` renders for `settings`. Errors are meant to be printed as they are. */
export async function renderK8s(settings: DeploySettings): Promise<K8sObject[]> {
  const doc = await readConfigFile(settings.configPath);
  const graph = await loadGraph(doc.graph);
  const config = resolveConfig(doc, graphSchemas(graph), {
    overrides: settings.overrides,
    env: {},
  });
  const plan = planDeployment(graph, doc, config, await Deno.readTextFile(settings.configPath));
  const options: DeployOptions = {
    image: settings.image ?? `meshwork:${MESHWORK_VERSION}`,
    ...(settings.namespace !== undefined ? { namespace: settings.namespace } : {}),
    natsUrl: settings.nats ?? "nats://nats:4222",
    etcdUrl: settings.etcd ?? "http://etcd:2379",
    withInfra: settings.withInfra === true,
    command: [...POD_COMMAND],
    ...(doc.graph !== undefined ? { graph: graphInImage(doc.graph) } : {}),
    overrides: settings.overrides ?? [],
  };
  return renderManifests(plan, options);
}

/** The graph module's path inside the image; a module outside the project is an error. */
export function graphInImage(graph: string): string {
  if (!isAbsolute(graph)) return graph; // a URL
  const inProject = relative(_PROJECT, graph);
  if (inProject.startsWith("..") || isAbsolute(inProject)) {
    throw new UsageError(
      `The graph module "${graph}" is outside the project, so the image does not hold it; ` +
        "move it under the project (e.g. examples/) or serve it from a URL",
    );
  }
  return `${IMAGE_ROOT}/${inProject}`;
}

/** Runs `deploy` with command-line `args`; resolves to the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const [target, ...rest] = args;
  try {
    if (target === undefined || target === "help" || target === "--help" || target === "-h") {
      console.log(USAGE);
      return 0;
    }
    if (target !== "k8s") throw new UsageError(`Unknown target "${target}"; expected k8s`);
    const { options, overrides } = parseArgs(rest, {
      valued: ["config", "image", "namespace", "out", "nats", "etcd"],
      flags: ["with-infra", "help"],
      aliases: { f: "config", h: "help" },
    });
    if (options.help) {
      console.log(USAGE);
      return 0;
    }
    if (typeof options.config !== "string") throw new UsageError("--config FILE is required");
    const objects = await renderK8s({
      configPath: options.config,
      image: options.image as string | undefined,
      namespace: options.namespace as string | undefined,
      withInfra: options["with-infra"] === true,
      nats: options.nats as string | undefined,
      etcd: options.etcd as string | undefined,
      overrides,
    });
    if (typeof options.out !== "string") {
      await Deno.stdout.write(new TextEncoder().encode(manifestsYaml(objects)));
      return 0;
    }
    await Deno.mkdir(options.out, { recursive: true });
    for (const [name, text] of manifestFiles(objects)) {
      await Deno.writeTextFile(join(options.out, name), text);
    }
    console.error(`Wrote ${objects.length} manifests to ${options.out}`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) console.error(USAGE);
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return error instanceof UsageError ? 2 : 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
