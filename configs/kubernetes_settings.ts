/**
 * A component's `kubernetes:` section: what `deno task deploy k8s` needs to run the component
 * on a cluster ({@linkcode readKubernetesSections}). `serve` accepts the section and ignores it.
 *
 * ```yaml
 * Worker:
 *   ServiceArgs:
 *     workers: 4                   # replicas: one instance per pod
 *   kubernetes:
 *     image: registry.example.com/meshwork:0.1.0   # beats --image
 *     resources:
 *       requests: { cpu: 500m, memory: 256Mi }
 *       limits: { cpu: "2", memory: 1Gi, nvidia.com/gpu: 1 }
 *     node_selector: { nvidia.com/gpu.present: "true" }
 *     tolerations:
 *       - { key: nvidia.com/gpu, operator: Exists, effect: NoSchedule }
 *     env: { MODEL_DIR: /models }  # extra environment of the container
 *     multinode:
 *       node_count: 2              # the instances land on 2 distinct nodes (or more)
 * ```
 *
 * A mistake names the file, line, column and key, like every other config error.
 *
 * @example
 * ```ts
 * import { parseConfigText } from "./yaml_document.ts";
 * import { readKubernetesSections } from "./kubernetes_settings.ts";
 *
 * const doc = parseConfigText("Worker:\n  kubernetes:\n    multinode: {node_count: 2}\n", "x.yaml");
 * console.log(readKubernetesSections(doc, { Worker: 2 }).Worker); // { multinode: { nodeCount: 2 } }
 * ```
 *
 * @module
 */

import { ConfigError } from "./config_error.ts";
import { type ConfigNode, describeNode, nodeEntries } from "./config_node.ts";
import type { ConfigDocument } from "./yaml_document.ts";

/** Amounts of one resource list (`requests` or `limits`), as Kubernetes quantities. */
export interface ResourceAmounts {
  /** CPU: `500m`, `2`, `0.5`. */
  cpu?: string;
  /** Memory: `256Mi`, `1Gi`, `1000000`. */
  memory?: string;
  /** Whole GPUs per pod (NVIDIA's device plugin resource). */
  "nvidia.com/gpu"?: number;
}

/** One toleration of the pods (Kubernetes' fields, `toleration_seconds` in snake case). */
export interface Toleration {
  key?: string;
  operator?: "Exists" | "Equal";
  value?: string;
  effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
  tolerationSeconds?: number;
}

/** The `kubernetes:` section of one component. */
export interface KubernetesSettings {
  /** Container image; beats the command's `--image`. */
  image?: string;
  /** Requests and limits of the container. */
  resources?: { requests?: ResourceAmounts; limits?: ResourceAmounts };
  /** Labels a node must carry to run the pods. */
  nodeSelector?: Record<string, string>;
  /** Taints the pods tolerate. */
  tolerations?: Toleration[];
  /** Extra environment variables of the container (they beat the generated ones). */
  env?: Record<string, string>;
  /** The seed's `multinode.nodeCount`: the instances must land on this many distinct nodes. */
  multinode?: { nodeCount: number };
}

const _KEYS = ["image", "resources", "node_selector", "tolerations", "env", "multinode"];
const _RESOURCES = ["cpu", "memory", "nvidia.com/gpu"];
const _CPU = /^(\d+(\.\d+)?|\.\d+)m?$/;
const _MEMORY = /^(\d+(\.\d+)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;
const _LABEL_KEY =
  /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const _LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const _ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const _IMAGE = /^[a-z0-9][A-Za-z0-9._\/:@-]*$/;

/**
 * The `kubernetes:` section of every component section of `doc` that has one, by component.
 * `workers` gives each component's instance count (`ServiceArgs.workers`, resolved), so that a
 * `multinode.node_count` larger than it is an error.
 */
export function readKubernetesSections(
  doc: ConfigDocument,
  workers: Readonly<Record<string, number>>,
): Record<string, KubernetesSettings> {
  const result: Record<string, KubernetesSettings> = {};
  for (const section of doc.sections) {
    if (section.value.kind !== "map") continue;
    const entry = section.value.entries.find((e) => e.key === "kubernetes");
    if (!entry) continue;
    const settings = readKubernetesSection(doc.file, section.key, entry.value);
    const count = settings.multinode?.nodeCount;
    const instances = workers[section.key] ?? 1;
    if (count !== undefined && count > instances) {
      const node = nodeEntries(doc.file, "", entry.value).find((e) => e.key === "multinode")!;
      throw new ConfigError(
        `${section.key}.kubernetes.multinode.node_count: ${count} nodes need at least ${count} ` +
          `instances (one per pod), but ${section.key}.ServiceArgs.workers is ${instances}`,
        { file: doc.file, pos: node.keyPos },
      );
    }
    result[section.key] = settings;
  }
  return result;
}

/** Reads the `kubernetes:` section of component `component`; `kubernetes:` alone is `{}`. */
export function readKubernetesSection(
  file: string,
  component: string,
  node: ConfigNode,
): KubernetesSettings {
  const what = `${component}.kubernetes`;
  if (node.kind === "scalar" && node.value === null) return {};
  const settings: KubernetesSettings = {};
  for (const { key, keyPos, value } of _entries(file, what, node)) {
    const at = `${what}.${key}`;
    if (key === "image") {
      settings.image = _string(file, at, value, _IMAGE, "an image reference");
    } else if (key === "resources") {
      settings.resources = _resources(file, at, value);
    } else if (key === "node_selector") {
      settings.nodeSelector = _labels(file, at, value);
    } else if (key === "tolerations") {
      if (value.kind !== "list") _fail(file, at, "a list of tolerations", value);
      settings.tolerations = value.items.map((item, i) => _toleration(file, `${at}[${i}]`, item));
    } else if (key === "env") {
      settings.env = _env(file, at, value);
    } else if (key === "multinode") {
      settings.multinode = _multinode(file, at, value);
    } else {
      throw new ConfigError(`unknown key "${at}"; expected one of ${_KEYS.join(", ")}`, {
        file,
        pos: keyPos,
      });
    }
  }
  return settings;
}

function _entries(file: string, what: string, node: ConfigNode) {
  const entries = nodeEntries(file, what, node);
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.key)) {
      throw new ConfigError(`${what}.${entry.key} is set twice; keep one`, {
        file,
        pos: entry.keyPos,
      });
    }
    seen.add(entry.key);
  }
  return entries;
}

function _fail(file: string, what: string, expected: string, node: ConfigNode): never {
  throw new ConfigError(`${what}: expected ${expected}, got ${describeNode(node)}`, {
    file,
    pos: node.pos,
  });
}

function _string(
  file: string,
  what: string,
  node: ConfigNode,
  pattern: RegExp,
  expected: string,
): string {
  const value = node.kind === "scalar" ? node.value : undefined;
  if (typeof value !== "string" || !pattern.test(value)) _fail(file, what, expected, node);
  return value;
}

function _resources(
  file: string,
  what: string,
  node: ConfigNode,
): NonNullable<KubernetesSettings["resources"]> {
  const result: NonNullable<KubernetesSettings["resources"]> = {};
  for (const { key, keyPos, value } of _entries(file, what, node)) {
    if (key !== "requests" && key !== "limits") {
      throw new ConfigError(`unknown key "${what}.${key}"; expected one of requests, limits`, {
        file,
        pos: keyPos,
      });
    }
    result[key] = _amounts(file, `${what}.${key}`, value);
  }
  const gpus = [result.requests?.["nvidia.com/gpu"], result.limits?.["nvidia.com/gpu"]];
  if (gpus[0] !== undefined && gpus[1] !== undefined && gpus[0] !== gpus[1]) {
    throw new ConfigError(
      `${what}: requests and limits of nvidia.com/gpu must be equal (Kubernetes does not ` +
        `overcommit GPUs), got ${gpus[0]} and ${gpus[1]}`,
      { file, pos: node.pos },
    );
  }
  return result;
}

function _amounts(file: string, what: string, node: ConfigNode): ResourceAmounts {
  const amounts: ResourceAmounts = {};
  for (const { key, keyPos, value } of _entries(file, what, node)) {
    const at = `${what}.${key}`;
    const raw = value.kind === "scalar" ? value.value : undefined;
    if (key === "nvidia.com/gpu") {
      if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 0) {
        _fail(file, at, "a whole number of GPUs", value);
      }
      amounts[key] = raw;
    } else if (key === "cpu" || key === "memory") {
      const text = typeof raw === "number" && raw >= 0 ? String(raw) : raw;
      const pattern = key === "cpu" ? _CPU : _MEMORY;
      if (typeof text !== "string" || !pattern.test(text)) {
        const example = key === "cpu" ? `"500m" or 2` : `"256Mi" or "1Gi"`;
        _fail(file, at, `a Kubernetes quantity such as ${example}`, value);
      }
      amounts[key] = text;
    } else {
      throw new ConfigError(`unknown key "${at}"; expected one of ${_RESOURCES.join(", ")}`, {
        file,
        pos: keyPos,
      });
    }
  }
  return amounts;
}

function _labels(file: string, what: string, node: ConfigNode): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const { key, keyPos, value } of _entries(file, what, node)) {
    if (!_LABEL_KEY.test(key)) {
      throw new ConfigError(`${what}: "${key}" is not a valid label key`, { file, pos: keyPos });
    }
    const raw = value.kind === "scalar" ? value.value : undefined;
    const text = typeof raw === "number" || typeof raw === "boolean" ? String(raw) : raw;
    if (typeof text !== "string" || !_LABEL_VALUE.test(text)) {
      _fail(file, `${what}.${key}`, "a label value (63 letters, digits, -, _ or .)", value);
    }
    labels[key] = text;
  }
  return labels;
}

function _toleration(file: string, what: string, node: ConfigNode): Toleration {
  const toleration: Toleration = {};
  for (const { key, keyPos, value } of _entries(file, what, node)) {
    const at = `${what}.${key}`;
    const raw = value.kind === "scalar" ? value.value : undefined;
    if (key === "key") {
      toleration.key = _string(file, at, value, _LABEL_KEY, "a taint key");
    } else if (key === "operator") {
      if (raw !== "Exists" && raw !== "Equal") _fail(file, at, "Exists or Equal", value);
      toleration.operator = raw;
    } else if (key === "value") {
      toleration.value = _string(file, at, value, _LABEL_VALUE, "a taint value");
    } else if (key === "effect") {
      if (raw !== "NoSchedule" && raw !== "PreferNoSchedule" && raw !== "NoExecute") {
        _fail(file, at, "NoSchedule, PreferNoSchedule or NoExecute", value);
      }
      toleration.effect = raw;
    } else if (key === "toleration_seconds") {
      if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 0) {
        _fail(file, at, "a whole number of seconds", value);
      }
      toleration.tolerationSeconds = raw;
    } else {
      throw new ConfigError(
        `unknown key "${at}"; expected one of key, operator, value, effect, toleration_seconds`,
        { file, pos: keyPos },
      );
    }
  }
  if (toleration.operator === "Exists" && toleration.value !== undefined) {
    throw new ConfigError(`${what}: operator Exists takes no value`, { file, pos: node.pos });
  }
  if (toleration.key === undefined && toleration.operator !== "Exists") {
    throw new ConfigError(`${what}: a toleration without a key needs operator: Exists`, {
      file,
      pos: node.pos,
    });
  }
  return toleration;
}

function _env(file: string, what: string, node: ConfigNode): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { key, keyPos, value } of _entries(file, what, node)) {
    if (!_ENV_NAME.test(key)) {
      throw new ConfigError(`${what}: "${key}" is not a valid environment variable name`, {
        file,
        pos: keyPos,
      });
    }
    const raw = value.kind === "scalar" ? value.value : undefined;
    if (raw === undefined || raw === null) _fail(file, `${what}.${key}`, "a value", value);
    env[key] = String(raw);
  }
  return env;
}

function _multinode(file: string, what: string, node: ConfigNode): { nodeCount: number } {
  let nodeCount: number | undefined;
  for (const { key, keyPos, value } of _entries(file, what, node)) {
    if (key !== "node_count") {
      throw new ConfigError(`unknown key "${what}.${key}"; expected node_count`, {
        file,
        pos: keyPos,
      });
    }
    const raw = value.kind === "scalar" ? value.value : undefined;
    if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 1) {
      _fail(file, `${what}.node_count`, "a whole number of nodes, at least 1", value);
    }
    nodeCount = raw;
  }
  if (nodeCount === undefined) {
    throw new ConfigError(`${what}: expected node_count`, { file, pos: node.pos });
  }
  return { nodeCount };
}
