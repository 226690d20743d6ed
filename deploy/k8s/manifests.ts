/**
 * Every Kubernetes object of a deployed graph, in the order `kubectl apply` should create them
 * ({@linkcode renderManifests}): the infrastructure when asked for (`--with-infra`), the config
 * ConfigMap, then per component its Deployment, its PodDisruptionBudget and, for the HTTP
 * component, its Service. DESIGN.md §2 puts the generator in `deploy/`; `bin/deploy.ts` is the
 * command.
 *
 * @module
 */

import { renderConfigMap } from "./configmap.ts";
import type { DeployOptions, DeployPlan } from "./deploy_plan.ts";
import { renderDeployment } from "./deployment.ts";
import { renderEtcdCluster } from "./etcd_cluster.ts";
import type { K8sObject } from "./k8s_object.ts";
import { renderNatsCluster } from "./nats_cluster.ts";
import { renderPodDisruptionBudget } from "./pdb.ts";
import { renderService } from "./service.ts";

/** The objects of `plan` under `options`. */
export function renderManifests(plan: DeployPlan, options: DeployOptions): K8sObject[] {
  const objects: K8sObject[] = [];
  if (options.withInfra) objects.push(...renderNatsCluster(options), ...renderEtcdCluster(options));
  objects.push(renderConfigMap(plan, options));
  for (const component of plan.components) {
    objects.push(renderDeployment(plan, component, options));
    objects.push(renderPodDisruptionBudget(plan, component, options));
    if (component.http) objects.push(renderService(plan, component, options));
  }
  return objects;
}
