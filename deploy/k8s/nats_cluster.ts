/**
 * A 3-node NATS cluster with JetStream (`--with-infra`): a StatefulSet `nats` whose members
 * route to each other through the headless Service `nats-headless`, each with a persistent
 * JetStream store, and the client Service `nats` (`nats://nats:4222`, the pods' default
 * `NATS_SERVER`). No authentication: add it (and the `<app>-credentials` Secret) before
 * exposing the cluster.
 *
 * @module
 */

import type { DeployOptions } from "./deploy_plan.ts";
import { type K8sObject, metadata } from "./k8s_object.ts";
import {
  dataVolumeClaim,
  INFRA_REPLICAS,
  infraBudget,
  infraLabels,
  infraServices,
  infraSpread,
  memberHosts,
  POD_NAME_ENV,
} from "./infra_labels.ts";

/** The NATS server image (Debian's 2.9 has JetStream clustering too; this one is current). */
export const NATS_IMAGE = "nats:2.10.24-alpine";

/** The NATS StatefulSet, its two Services and its disruption budget. */
export function renderNatsCluster(options: DeployOptions): K8sObject[] {
  const labels = infraLabels("nats");
  const routes = memberHosts("nats").map((host) => `nats://${host}:6222`).join(",");
  const probe = (path: string, timing: Record<string, number>) => ({
    httpGet: { path, port: "monitor" },
    timeoutSeconds: 2,
    ...timing,
  });
  const statefulSet: K8sObject = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: metadata("nats", options.namespace, labels),
    spec: {
      serviceName: "nats-headless",
      replicas: INFRA_REPLICAS,
      podManagementPolicy: "Parallel",
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 60,
          topologySpreadConstraints: infraSpread("nats"),
          containers: [{
            name: "nats",
            image: NATS_IMAGE,
            args: [
              "--name=$(POD_NAME)",
              "--port=4222",
              "--http_port=8222",
              "--jetstream",
              "--store_dir=/data",
              "--cluster_name=meshwork",
              "--cluster=nats://0.0.0.0:6222",
              `--routes=${routes}`,
            ],
            env: [POD_NAME_ENV],
            ports: [
              { name: "client", containerPort: 4222, protocol: "TCP" },
              { name: "cluster", containerPort: 6222, protocol: "TCP" },
              { name: "monitor", containerPort: 8222, protocol: "TCP" },
            ],
            startupProbe: probe("/healthz?js-enabled-only=true", {
              periodSeconds: 2,
              failureThreshold: 60,
            }),
            livenessProbe: probe("/healthz?js-enabled-only=true", {
              periodSeconds: 10,
              failureThreshold: 3,
            }),
            readinessProbe: probe("/healthz", { periodSeconds: 5, failureThreshold: 2 }),
            resources: { requests: { cpu: "100m", memory: "256Mi" } },
            volumeMounts: [{ name: "data", mountPath: "/data" }],
          }],
        },
      },
      volumeClaimTemplates: [dataVolumeClaim("1Gi")],
    },
  };
  return [
    ...infraServices(
      "nats",
      options,
      [{ name: "client", port: 4222 }, { name: "cluster", port: 6222 }, {
        name: "monitor",
        port: 8222,
      }],
      { name: "client", port: 4222 },
    ),
    statefulSet,
    infraBudget("nats", options),
  ];
}
