/**
 * Labels and small parts shared by the optional infrastructure (`--with-infra`): the NATS and
 * etcd StatefulSets, their headless and client Services, and their disruption budgets.
 *
 * @module
 */

import type { DeployOptions } from "./deploy_plan.ts";
import { type K8sObject, metadata } from "./k8s_object.ts";

/** Members of each infrastructure cluster: a quorum survives the loss of one. */
export const INFRA_REPLICAS = 3;

/** The labels that select the pods of infrastructure `name` (`nats`, `etcd`). */
export function infraLabels(name: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": name,
    "app.kubernetes.io/part-of": "meshwork",
  };
}

/** `POD_NAME` from the downward API, for `$(POD_NAME)` in arguments. */
export const POD_NAME_ENV = {
  name: "POD_NAME",
  valueFrom: { fieldRef: { fieldPath: "metadata.name" } },
};

/** The pods' host names through the headless Service: `nats-0.nats-headless`, ... */
export function memberHosts(name: string): string[] {
  return Array.from({ length: INFRA_REPLICAS }, (_, i) => `${name}-${i}.${name}-headless`);
}

/**
 * The headless Service (stable pod names, published before the pods are ready so that members
 * find each other) and the client Service of infrastructure `name`.
 */
export function infraServices(
  name: string,
  options: DeployOptions,
  ports: { name: string; port: number }[],
  clientPort: { name: string; port: number },
): K8sObject[] {
  const labels = infraLabels(name);
  const tcp = (p: { name: string; port: number }) => ({
    ...p,
    targetPort: p.name,
    protocol: "TCP",
  });
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: metadata(`${name}-headless`, options.namespace, labels),
      spec: {
        clusterIP: "None",
        publishNotReadyAddresses: true,
        selector: labels,
        ports: ports.map(tcp),
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: metadata(name, options.namespace, labels),
      spec: { type: "ClusterIP", selector: labels, ports: [tcp(clientPort)] },
    },
  ];
}

/** At most one member of infrastructure `name` is evicted at a time (its quorum holds). */
export function infraBudget(name: string, options: DeployOptions): K8sObject {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: metadata(name, options.namespace, infraLabels(name)),
    spec: { maxUnavailable: 1, selector: { matchLabels: infraLabels(name) } },
  };
}

/** One member per node where possible. */
export function infraSpread(name: string): Record<string, unknown>[] {
  return [{
    maxSkew: 1,
    topologyKey: "kubernetes.io/hostname",
    whenUnsatisfiable: "ScheduleAnyway",
    labelSelector: { matchLabels: infraLabels(name) },
  }];
}

/** A ReadWriteOnce volume claim of `size` named `data`. */
export function dataVolumeClaim(size: string): Record<string, unknown> {
  return {
    metadata: { name: "data" },
    spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: size } } },
  };
}
