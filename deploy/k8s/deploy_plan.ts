/**
 * What the renderers need to know about a graph ({@linkcode planDeployment}): each component
 * with its replica count (`ServiceArgs.workers`: one instance per pod), whether it is the HTTP
 * front and on which port, and its `kubernetes:` section; plus the config text that goes into
 * the ConfigMap. {@linkcode DeployOptions} holds what the command line adds (image, namespace,
 * NATS and etcd addresses, the container command).
 *
 * @module
 */

import type { Graph } from "../../actors/component.ts";
import type { ConfigDocument } from "../../configs/yaml_document.ts";
import type { ResolvedConfig } from "../../configs/resolve.ts";
import {
  type KubernetesSettings,
  readKubernetesSections,
} from "../../configs/kubernetes_settings.ts";
import { dnsLabel } from "./names.ts";

/** One component as it is deployed. */
export interface ComponentPlan {
  /** The mesh's name (`Frontend`). */
  name: string;
  /** Its Kubernetes name part (`frontend`). */
  label: string;
  /** The HTTP front (the gateway): gets a Service and probes on its own port. */
  http: boolean;
  /** The gateway's port, for the HTTP front. */
  port?: number;
  /** `ServiceArgs.workers`: pods, one instance each. */
  replicas: number;
  /** Its `kubernetes:` section (`{}` without one). */
  kubernetes: KubernetesSettings;
}

/** A graph as it is deployed. */
export interface DeployPlan {
  /** The mesh namespace as a DNS label (`hello-world`): the prefix of every object name. */
  app: string;
  /** The config file's base name: its key in the ConfigMap. */
  configFile: string;
  /** The config file's text, as it is. */
  configText: string;
  components: ComponentPlan[];
}

/** What the command line adds to a plan. */
export interface DeployOptions {
  /** Container image, unless a component's `kubernetes.image` says otherwise. */
  image: string;
  /** Kubernetes namespace of every object; absent: the one `kubectl` uses. */
  namespace?: string;
  /** `NATS_SERVER` of the pods. */
  natsUrl: string;
  /** `ETCD_ENDPOINTS` of the pods. */
  etcdUrl: string;
  /** Also render a 3-node NATS (JetStream) cluster and a 3-member etcd cluster. */
  withInfra: boolean;
  /** The container command, up to the `meshwork` arguments (`deno run <flags> /app/cli.ts`). */
  command: string[];
  /** The graph module as the image holds it (`--graph`); absent: the config's default. */
  graph?: string;
  /** `--Component.key=value` overrides, handed to every pod as well. */
  overrides: string[];
}

/** The plan of `graph` under `config` (resolved from `doc`, whose text is `configText`). */
export function planDeployment(
  graph: Graph,
  doc: ConfigDocument,
  config: ResolvedConfig,
  configText: string,
): DeployPlan {
  const workers = Object.fromEntries(
    Object.entries(config.components).map(([name, c]) => [name, c.workers]),
  );
  const sections = readKubernetesSections(doc, workers);
  const seen = new Map<string, string>();
  const components = graph.components.map((c): ComponentPlan => {
    const resolved = config.components[c.name]!;
    const label = dnsLabel(c.name);
    const other = seen.get(label);
    if (other !== undefined) {
      throw new TypeError(`Components "${other}" and "${c.name}" get the same Kubernetes name`);
    }
    seen.set(label, c.name);
    return {
      name: c.name,
      label,
      http: c.http === true,
      ...(c.http ? { port: resolved.values.port as number } : {}),
      replicas: resolved.workers,
      kubernetes: sections[c.name] ?? {},
    };
  });
  const configFile = doc.file.slice(doc.file.lastIndexOf("/") + 1);
  return { app: dnsLabel(config.namespace), configFile, configText, components };
}
