/**
 * The graph's config file as a ConfigMap (`<app>-config`, key: the file's name), mounted
 * read-only into every pod at {@linkcode CONFIG_DIR}. Its SHA-256 ({@linkcode configChecksum}) is
 * an annotation of each pod template, so a changed config rolls the pods.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { DeployOptions, DeployPlan } from "./deploy_plan.ts";
import { type K8sObject, metadata } from "./k8s_object.ts";

/** Where the pods see the config file. */
export const CONFIG_DIR = "/etc/meshwork";

/** The ConfigMap's name. */
export function configMapName(plan: DeployPlan): string {
  return `${plan.app}-config`;
}

/** The hex SHA-256 of the config text. */
export function configChecksum(plan: DeployPlan): string {
  return createHash("sha256").update(plan.configText).digest("hex");
}

/** The ConfigMap holding the config file. */
export function renderConfigMap(plan: DeployPlan, options: DeployOptions): K8sObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: metadata(configMapName(plan), options.namespace, {
      "app.kubernetes.io/name": "meshwork",
      "app.kubernetes.io/instance": plan.app,
      "app.kubernetes.io/managed-by": "meshwork-deploy",
    }),
    data: { [plan.configFile]: plan.configText },
  };
}
