/**
 * A PodDisruptionBudget per component: a node drain or a cluster upgrade evicts at most one of
 * its pods at a time, and each evicted pod drains its in-flight requests first (preStop, then
 * SIGTERM and the mesh's grace). One pod may always go, so a one-replica component never blocks a
 * node drain.
 *
 * @module
 */

import type { ComponentPlan, DeployOptions, DeployPlan } from "./deploy_plan.ts";
import { type K8sObject, metadata } from "./k8s_object.ts";
import { componentLabels, selectorLabels } from "./names.ts";

/** The budget of `component`'s pods. */
export function renderPodDisruptionBudget(
  plan: DeployPlan,
  component: ComponentPlan,
  options: DeployOptions,
): K8sObject {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: metadata(
      `${plan.app}-${component.label}`,
      options.namespace,
      componentLabels(plan.app, component.label),
    ),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(plan.app, component.label) },
    },
  };
}
