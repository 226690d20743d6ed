/**
 * The Service in front of the HTTP component's pods (`<app>-<component>`, ClusterIP, the
 * gateway's port): clients inside the cluster `POST /generate` to it; an Ingress or
 * `kubectl port-forward` exposes it outside. A pod that is not ready (starting, or draining
 * before it stops) gets no traffic from it.
 *
 * @module
 */

import type { ComponentPlan, DeployOptions, DeployPlan } from "./deploy_plan.ts";
import { type K8sObject, metadata } from "./k8s_object.ts";
import { componentLabels, selectorLabels } from "./names.ts";

/** The Service of the HTTP component `component`. */
export function renderService(
  plan: DeployPlan,
  component: ComponentPlan,
  options: DeployOptions,
): K8sObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: metadata(
      `${plan.app}-${component.label}`,
      options.namespace,
      componentLabels(plan.app, component.label),
    ),
    spec: {
      type: "ClusterIP",
      selector: selectorLabels(plan.app, component.label),
      ports: [{ name: "http", port: component.port, targetPort: "http", protocol: "TCP" }],
    },
  };
}
