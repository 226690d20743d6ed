/**
 * `deno task deploy k8s` (bin/deploy.ts, deploy/k8s/): every object rendered for every config in
 * configs/, with and without `--with-infra`, validates against the Kubernetes API schemas
 * (`npm:kubernetes-models`; no API server is needed); the output for configs/multi_worker.yaml
 * is pinned by a golden file; the pieces that must agree do (drain timing, rolling update,
 * spread, probes, permissions of the Dockerfile and of the pods); and bad `kubernetes:` values
 * are positioned errors.
 *
 * Regenerate the golden file after a deliberate change, and review its diff:
 *
 * ```sh
 * UPDATE_GOLDEN=1 deno test --allow-all tests/unit/k8s_manifests_test.ts
 * ```
 */

import assert from "node:assert/strict";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { parse } from "yaml";
import { graphInImage, main, POD_COMMAND, renderK8s } from "../../bin/deploy.ts";
import { MESH_PERMISSIONS, SERVE_PERMISSIONS } from "../../bin/permissions.ts";
import { ConfigError } from "../../configs/config_error.ts";
import { readKubernetesSections } from "../../configs/kubernetes_settings.ts";
import { parseConfigText } from "../../configs/yaml_document.ts";
import { GRACE_MS, PRE_STOP_S } from "../../deploy/k8s/drain_timing.ts";
import type { K8sObject } from "../../deploy/k8s/k8s_object.ts";
import { manifestsYaml } from "../../deploy/k8s/manifest_yaml.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const GOLDEN = `${ROOT}tests/fixtures/k8s/multi_worker.yaml`;

const CONFIGS = [...Deno.readDirSync(`${ROOT}configs`)]
  .filter((e) => e.name.endsWith(".yaml"))
  .map((e) => `${ROOT}configs/${e.name}`)
  .sort();

// deno-lint-ignore no-explicit-any
const KINDS: Record<string, new (data: any) => { validate(): void }> = {
  Deployment,
  StatefulSet,
  PodDisruptionBudget,
  ConfigMap,
  Service,
};

/** Validates `object` against its kind's API schema; the error names the object. */
function validate(object: K8sObject): void {
  const Kind = KINDS[object.kind];
  assert.ok(Kind, `no schema for kind ${object.kind}`);
  try {
    // Through YAML and back: what kubectl would read.
    new Kind(parse(manifestsYaml([object]).slice(4))).validate();
  } catch (error) {
    assert.fail(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
  }
}

// deno-lint-ignore no-explicit-any
type Any = any;
const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);

Deno.test("deploy k8s: every object for every config validates against the Kubernetes API", async () => {
  assert.ok(CONFIGS.length >= 4, CONFIGS.join(", "));
  for (const configPath of CONFIGS) {
    for (const withInfra of [false, true]) {
      const objects = await renderK8s({ configPath, withInfra, namespace: "meshwork" });
      const kinds = new Set(objects.map((o) => o.kind));
      assert.ok(kinds.has("Deployment") && kinds.has("Service") && kinds.has("ConfigMap"));
      assert.equal(kinds.has("StatefulSet"), withInfra, configPath);
      for (const object of objects) {
        validate(object);
        assert.equal(object.metadata.namespace, "meshwork");
      }
      const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      assert.equal(new Set(names).size, names.length, `duplicate names: ${names}`);
    }
  }
});

Deno.test("deploy k8s: the validation rejects a broken object (the check can fail)", async () => {
  const [deployment] = byKind(await renderK8s({ configPath: CONFIGS[0]! }), "Deployment") as Any[];
  deployment.spec.template.spec.containers[0].ports[0].containerPort = "http";
  assert.throws(() => validate(deployment), /containerPort must be integer/);
});

Deno.test("deploy k8s: configs/multi_worker.yaml renders the golden file", async () => {
  const text = manifestsYaml(await renderK8s({ configPath: `${ROOT}configs/multi_worker.yaml` }));
  if (Deno.env.get("UPDATE_GOLDEN") === "1") await Deno.writeTextFile(GOLDEN, text);
  assert.equal(text, await Deno.readTextFile(GOLDEN), "rerun with UPDATE_GOLDEN=1 to regenerate");
});

Deno.test("deploy k8s: replicas from ServiceArgs.workers, one instance per pod, drain and roll agree", async () => {
  const objects = await renderK8s({
    configPath: `${ROOT}configs/multi_worker.yaml`,
    overrides: ["--Worker.ServiceArgs.workers=3"],
    image: "registry.example.com/meshwork:1",
  });
  const deployments = new Map(
    byKind(objects, "Deployment").map((d: Any) => [d.metadata.name, d]),
  );
  assert.deepEqual([...deployments.keys()], [
    "hello-world-frontend",
    "hello-world-processor",
    "hello-world-worker",
  ]);
  const worker = deployments.get("hello-world-worker")!;
  assert.equal(worker.spec.replicas, 3);
  assert.deepEqual(worker.spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
  const pod = worker.spec.template.spec;
  const container = pod.containers[0];
  assert.equal(container.image, "registry.example.com/meshwork:1");
  assert.deepEqual(container.command, [
    "deno",
    "run",
    ...MESH_PERMISSIONS,
    "--cached-only",
    "/app/cli.ts",
  ]);
  const args: string[] = container.args;
  assert.deepEqual(args.slice(args.indexOf("--component"), args.indexOf("--component") + 4), [
    "--component",
    "Worker",
    "--instances",
    "1",
  ]);
  assert.ok(args.includes("--Worker.ServiceArgs.processes=false"), args.join(" "));
  assert.ok(args.includes("--Worker.ServiceArgs.workers=3"), "overrides reach the pods");
  assert.equal(args[args.indexOf("--grace-ms") + 1], String(GRACE_MS));
  assert.deepEqual(container.lifecycle.preStop.exec.command, ["sleep", String(PRE_STOP_S)]);
  assert.ok(pod.terminationGracePeriodSeconds > PRE_STOP_S + GRACE_MS / 1000);
  const env = Object.fromEntries(container.env.map((e: Any) => [e.name, e.value ?? e.valueFrom]));
  assert.equal(env.NATS_SERVER, "nats://nats:4222");
  assert.equal(env.ETCD_ENDPOINTS, "http://etcd:2379");
  assert.equal(env.MESH_STATUS_PORT, "9090");
  assert.equal(container.readinessProbe.httpGet.path, "/ready");
  assert.equal(container.livenessProbe.httpGet.path, "/live");
  assert.equal(container.ports[0].containerPort, 9090);
  assert.equal(worker.spec.template.metadata.annotations["prometheus.io/port"], "9090");
  assert.equal(pod.topologySpreadConstraints[0].whenUnsatisfiable, "ScheduleAnyway");

  const front = deployments.get("hello-world-frontend")!.spec.template.spec.containers[0];
  assert.equal(front.ports[0].containerPort, 8000);
  assert.ok(!front.env.some((e: Any) => e.name === "MESH_STATUS_PORT"));
  const [service] = byKind(objects, "Service") as Any[];
  assert.equal(service.metadata.name, "hello-world-frontend");
  assert.equal(service.spec.ports[0].port, 8000);
  assert.equal(byKind(objects, "PodDisruptionBudget").length, 3);
});

const K8S_CONFIG = `namespace: hello_world
graph: ../examples/hello_world/graph.ts
Worker:
  ServiceArgs:
    workers: 4
  kubernetes:
    image: registry.example.com/meshwork-gpu:1
    resources:
      requests: { cpu: 500m, memory: 256Mi }
      limits: { cpu: 2, memory: 1Gi, nvidia.com/gpu: 2 }
    node_selector: { nvidia.com/gpu.present: "true" }
    tolerations:
      - { key: nvidia.com/gpu, operator: Exists, effect: NoSchedule }
    env: { MODEL_DIR: /models, NATS_SERVER: "nats://other:4222" }
    multinode:
      node_count: 2
`;

Deno.test("deploy k8s: the kubernetes: section sets image, resources, placement, env and the multinode spread", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const configPath = `${dir}/gpu.yaml`;
    await Deno.writeTextFile(configPath, K8S_CONFIG.replace("../examples/", `${ROOT}examples/`));
    const objects = await renderK8s({ configPath });
    for (const object of objects) validate(object);
    const worker = byKind(objects, "Deployment").find((d) =>
      d.metadata.name === "hello-world-worker"
    ) as Any;
    const pod = worker.spec.template.spec;
    const container = pod.containers[0];
    assert.equal(worker.spec.replicas, 4);
    assert.equal(container.image, "registry.example.com/meshwork-gpu:1");
    assert.deepEqual(container.resources, {
      requests: { cpu: "500m", memory: "256Mi" },
      limits: { cpu: "2", memory: "1Gi", "nvidia.com/gpu": 2 },
    });
    assert.deepEqual(pod.nodeSelector, { "nvidia.com/gpu.present": "true" });
    assert.deepEqual(pod.tolerations, [{
      key: "nvidia.com/gpu",
      operator: "Exists",
      effect: "NoSchedule",
    }]);
    const env = Object.fromEntries(container.env.map((e: Any) => [e.name, e.value]));
    assert.equal(env.MODEL_DIR, "/models");
    assert.equal(env.NATS_SERVER, "nats://other:4222");
    assert.equal(container.env.filter((e: Any) => e.name === "NATS_SERVER").length, 1);
    assert.deepEqual(pod.topologySpreadConstraints[0], {
      maxSkew: 1,
      topologyKey: "kubernetes.io/hostname",
      whenUnsatisfiable: "DoNotSchedule",
      minDomains: 2,
      labelSelector: { matchLabels: worker.spec.selector.matchLabels },
      matchLabelKeys: ["pod-template-hash"],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve accepts a component's kubernetes: section (and ignores it)", async () => {
  const { resolveConfig } = await import("../../configs/resolve.ts");
  const { graphSchemas } = await import("../../bin/serve.ts");
  const { default: helloWorld } = await import("../../examples/hello_world/graph.ts");
  const config = resolveConfig(parseConfigText(K8S_CONFIG, "x.yaml"), graphSchemas(helloWorld));
  assert.equal(config.components.Worker!.workers, 4);
});

function errorOf(yaml: string, workers: Record<string, number> = { Worker: 2 }): string {
  try {
    readKubernetesSections(parseConfigText(yaml, "x.yaml"), workers);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail(`expected a ConfigError for:\n${yaml}`);
}

Deno.test("kubernetes: bad values are errors that name the file, line, column and key", () => {
  const cases: [string, string][] = [
    [
      "Worker:\n  kubernetes:\n    replicas: 3\n",
      'x.yaml:3:5: unknown key "Worker.kubernetes.replicas"; expected one of image, resources, ' +
      "node_selector, tolerations, env, multinode",
    ],
    [
      "Worker:\n  kubernetes:\n    resources:\n      limits: { cpu: lots }\n",
      'x.yaml:4:22: Worker.kubernetes.resources.limits.cpu: expected a Kubernetes quantity such as "500m" or 2, got "lots"',
    ],
    [
      "Worker:\n  kubernetes:\n    resources:\n      requests:\n        memory: 1GB\n",
      'x.yaml:5:17: Worker.kubernetes.resources.requests.memory: expected a Kubernetes quantity such as "256Mi" or "1Gi", got "1GB"',
    ],
    [
      "Worker:\n  kubernetes:\n    resources:\n      limits: { nvidia.com/gpu: 0.5 }\n",
      "x.yaml:4:33: Worker.kubernetes.resources.limits.nvidia.com/gpu: expected a whole number of GPUs, got 0.5",
    ],
    [
      "Worker:\n  kubernetes:\n    resources:\n      limit: {}\n",
      'x.yaml:4:7: unknown key "Worker.kubernetes.resources.limit"; expected one of requests, limits',
    ],
    [
      "Worker:\n  kubernetes:\n    multinode:\n      node_count: 0\n",
      "x.yaml:4:19: Worker.kubernetes.multinode.node_count: expected a whole number of nodes, at least 1, got 0",
    ],
    [
      "Worker:\n  kubernetes:\n    multinode:\n      nodeCount: 2\n",
      'x.yaml:4:7: unknown key "Worker.kubernetes.multinode.nodeCount"; expected node_count',
    ],
    [
      "Worker:\n  kubernetes:\n    multinode: { node_count: 3 }\n",
      "x.yaml:3:5: Worker.kubernetes.multinode.node_count: 3 nodes need at least 3 instances " +
      "(one per pod), but Worker.ServiceArgs.workers is 2",
    ],
    [
      "Worker:\n  kubernetes:\n    tolerations:\n      - { operator: Sometimes }\n",
      'x.yaml:4:21: Worker.kubernetes.tolerations[0].operator: expected Exists or Equal, got "Sometimes"',
    ],
    [
      "Worker:\n  kubernetes:\n    node_selector: { disk: [ssd] }\n",
      'x.yaml:3:28: Worker.kubernetes.node_selector.disk: expected a label value (63 letters, digits, -, _ or .), got ["ssd"]',
    ],
    [
      "Worker:\n  kubernetes:\n    env: { 1BAD: x }\n",
      'x.yaml:3:12: Worker.kubernetes.env: "1BAD" is not a valid environment variable name',
    ],
    [
      "Worker:\n  kubernetes:\n    image: Not An Image\n",
      'x.yaml:3:12: Worker.kubernetes.image: expected an image reference, got "Not An Image"',
    ],
    [
      "Worker:\n  kubernetes: [a]\n",
      'x.yaml:2:15: Worker.kubernetes: expected a mapping, got ["a"]',
    ],
  ];
  for (const [yaml, message] of cases) assert.equal(errorOf(yaml), message, yaml);
});

Deno.test("the Dockerfile: Deno's image of this Deno, cached dependencies, non-root, exactly the serve flags", async () => {
  const text = await Deno.readTextFile(`${ROOT}Dockerfile`);
  const from = /^FROM (\S+)$/m.exec(text)?.[1];
  assert.equal(from, `denoland/deno:${Deno.version.deno}`);
  const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(text)![1]!);
  assert.deepEqual(entrypoint, ["deno", "run", ...SERVE_PERMISSIONS, "--cached-only", "cli.ts"]);
  assert.deepEqual(POD_COMMAND, [
    "deno",
    "run",
    ...MESH_PERMISSIONS,
    "--cached-only",
    "/app/cli.ts",
  ]);
  assert.match(text, /^WORKDIR \/app$/m);
  const user = /^USER (\S+)$/m.exec(text)?.[1];
  assert.ok(user && user !== "root" && user !== "0", `USER ${user}`);
  assert.ok(text.indexOf("USER ") < text.indexOf("RUN deno install"), "cache as the run-time user");
  const joined = text.replaceAll("\\\n", " ");
  const install = /^RUN deno install --frozen --entrypoint (.+)$/m.exec(joined)?.[1];
  assert.ok(install, "RUN deno install --frozen --entrypoint ...");
  const entrypoints = install.trim().split(/\s+/);
  for (const file of entrypoints) await Deno.stat(`${ROOT}${file}`);
  for (const configPath of CONFIGS) {
    const graph = parseConfigText(await Deno.readTextFile(configPath), configPath).graph;
    if (graph) assert.ok(entrypoints.includes(graph.slice(ROOT.length)), `${graph} not cached`);
  }
  const ignored = (await Deno.readTextFile(`${ROOT}.dockerignore`)).split("\n");
  for (const path of [".git", "tests", "node_modules"]) assert.ok(ignored.includes(path), path);
});

Deno.test("deploy k8s: usage errors exit 2, a graph outside the project is refused", async () => {
  assert.equal(await main(["helm"]), 2);
  assert.equal(await main(["k8s"]), 2);
  assert.equal(graphInImage(`${ROOT}examples/x/graph.ts`), "/app/examples/x/graph.ts");
  assert.equal(graphInImage("https://example.com/graph.ts"), "https://example.com/graph.ts");
  assert.throws(() => graphInImage("/elsewhere/graph.ts"), /outside the project/);
});
