/**
 * A component's Deployment (`<app>-<component>`): `ServiceArgs.workers` replicas, one instance
 * per pod (`worker --component C --instances 1`, `ServiceArgs.processes` off: Kubernetes is the
 * supervisor), spread over nodes (spread.ts), probes on `/live` and `/ready` (503 while
 * draining), a preStop and a termination grace that match the mesh's drain (drain_timing.ts), a
 * rolling update that never lowers capacity (`maxUnavailable: 0`, `maxSurge: 1`), requests and
 * limits from `kubernetes.resources`, and Prometheus scrape annotations.
 *
 * @module
 */

import { CONFIG_DIR, configChecksum, configMapName } from "./configmap.ts";
import { containerEnv, credentialsSecretName, STATUS_PORT } from "./container_env.ts";
import type { ComponentPlan, DeployOptions, DeployPlan } from "./deploy_plan.ts";
import { GRACE_MS, PRE_STOP_S, terminationGraceSeconds } from "./drain_timing.ts";
import { type K8sObject, metadata } from "./k8s_object.ts";
import { componentLabels, selectorLabels } from "./names.ts";
import { topologySpread } from "./spread.ts";

/** Requests of a container whose config sets none for that resource (nor a limit). */
export const DEFAULT_REQUESTS: Readonly<Record<string, string>> = { cpu: "100m", memory: "128Mi" };

/** The Deployment of `component`. */
export function renderDeployment(
  plan: DeployPlan,
  component: ComponentPlan,
  options: DeployOptions,
): K8sObject {
  if (component.http && !component.port) {
    throw new TypeError(`${component.name}.port is 0; a pod's gateway needs a fixed port`);
  }
  const selector = selectorLabels(plan.app, component.label);
  const portName = component.http ? "http" : "status";
  const port = component.http ? component.port! : STATUS_PORT;
  const k8s = component.kubernetes;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: metadata(
      `${plan.app}-${component.label}`,
      options.namespace,
      componentLabels(plan.app, component.label),
    ),
    spec: {
      replicas: component.replicas,
      selector: { matchLabels: selector },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: componentLabels(plan.app, component.label),
          annotations: {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": String(port),
            "prometheus.io/path": "/metrics",
            "meshwork.dev/config-sha256": configChecksum(plan),
          },
        },
        spec: {
          terminationGracePeriodSeconds: terminationGraceSeconds(GRACE_MS),
          enableServiceLinks: false,
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1993,
            runAsGroup: 1993,
            seccompProfile: { type: "RuntimeDefault" },
          },
          ...(k8s.nodeSelector ? { nodeSelector: k8s.nodeSelector } : {}),
          ...(k8s.tolerations ? { tolerations: k8s.tolerations } : {}),
          topologySpreadConstraints: topologySpread(component, selector),
          containers: [{
            name: component.label,
            image: k8s.image ?? options.image,
            command: options.command,
            args: _args(plan, component, options),
            ports: [{ name: portName, containerPort: port, protocol: "TCP" }],
            env: containerEnv(component, options),
            envFrom: [{ secretRef: { name: credentialsSecretName(plan), optional: true } }],
            resources: _resources(component),
            startupProbe: _probe("/live", portName, { periodSeconds: 2, failureThreshold: 60 }),
            livenessProbe: _probe("/live", portName, { periodSeconds: 10, failureThreshold: 3 }),
            readinessProbe: _probe("/ready", portName, { periodSeconds: 5, failureThreshold: 2 }),
            lifecycle: { preStop: { exec: { command: ["sleep", String(PRE_STOP_S)] } } },
            securityContext: {
              allowPrivilegeEscalation: false,
              capabilities: { drop: ["ALL"] },
            },
            volumeMounts: [{ name: "config", mountPath: CONFIG_DIR, readOnly: true }],
          }],
          volumes: [{ name: "config", configMap: { name: configMapName(plan) } }],
        },
      },
    },
  };
}

/** `meshwork worker` for one instance of the component, with the config and overrides. */
function _args(plan: DeployPlan, component: ComponentPlan, options: DeployOptions): string[] {
  return [
    "worker",
    "--config",
    `${CONFIG_DIR}/${plan.configFile}`,
    ...(options.graph ? ["--graph", options.graph] : []),
    "--component",
    component.name,
    "--instances",
    "1",
    "--grace-ms",
    String(GRACE_MS),
    ...options.overrides,
    `--${component.name}.ServiceArgs.processes=false`,
  ];
}

function _probe(path: string, port: string, timing: Record<string, number>) {
  return { httpGet: { path, port }, timeoutSeconds: 2, ...timing };
}

function _resources(component: ComponentPlan): Record<string, Record<string, string | number>> {
  const { requests = {}, limits = {} } = component.kubernetes.resources ?? {};
  const defaults = Object.fromEntries(
    Object.entries(DEFAULT_REQUESTS).filter(([key]) => !(key in requests) && !(key in limits)),
  );
  const result: Record<string, Record<string, string | number>> = {
    requests: { ...defaults, ...requests },
  };
  if (Object.keys(limits).length > 0) result.limits = { ...limits };
  return result;
}
