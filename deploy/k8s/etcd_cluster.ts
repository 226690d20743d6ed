/**
 * A 3-member etcd cluster (`--with-infra`): a StatefulSet `etcd` whose members bootstrap
 * together (`podManagementPolicy: Parallel`) through the headless Service `etcd-headless`, each
 * with a persistent data directory, and the client Service `etcd` (`http://etcd:2379`, the pods'
 * default `ETCD_ENDPOINTS`; the mesh speaks etcd's HTTP/JSON gateway on that port). No
 * authentication or TLS: add them before exposing the cluster.
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

/** The etcd image (v3.5 answers `/livez` and `/readyz`). */
export const ETCD_IMAGE = "quay.io/coreos/etcd:v3.5.17";

/** The etcd StatefulSet, its two Services and its disruption budget. */
export function renderEtcdCluster(options: DeployOptions): K8sObject[] {
  const labels = infraLabels("etcd");
  const initialCluster = memberHosts("etcd")
    .map((host, i) => `etcd-${i}=http://${host}:2380`)
    .join(",");
  const probe = (path: string, timing: Record<string, number>) => ({
    httpGet: { path, port: "client" },
    timeoutSeconds: 2,
    ...timing,
  });
  const statefulSet: K8sObject = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: metadata("etcd", options.namespace, labels),
    spec: {
      serviceName: "etcd-headless",
      replicas: INFRA_REPLICAS,
      podManagementPolicy: "Parallel",
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          topologySpreadConstraints: infraSpread("etcd"),
          containers: [{
            name: "etcd",
            image: ETCD_IMAGE,
            command: ["etcd"],
            args: [
              "--name=$(POD_NAME)",
              "--data-dir=/var/run/etcd/data",
              "--listen-client-urls=http://0.0.0.0:2379",
              "--advertise-client-urls=http://$(POD_NAME).etcd-headless:2379",
              "--listen-peer-urls=http://0.0.0.0:2380",
              "--initial-advertise-peer-urls=http://$(POD_NAME).etcd-headless:2380",
              `--initial-cluster=${initialCluster}`,
              "--initial-cluster-token=meshwork-etcd",
              "--initial-cluster-state=new",
            ],
            env: [POD_NAME_ENV],
            ports: [
              { name: "client", containerPort: 2379, protocol: "TCP" },
              { name: "peer", containerPort: 2380, protocol: "TCP" },
            ],
            startupProbe: probe("/livez", { periodSeconds: 2, failureThreshold: 60 }),
            livenessProbe: probe("/livez", { periodSeconds: 10, failureThreshold: 3 }),
            readinessProbe: probe("/readyz", { periodSeconds: 5, failureThreshold: 2 }),
            resources: { requests: { cpu: "100m", memory: "256Mi" } },
            volumeMounts: [{ name: "data", mountPath: "/var/run/etcd" }],
          }],
        },
      },
      volumeClaimTemplates: [dataVolumeClaim("1Gi")],
    },
  };
  return [
    ...infraServices(
      "etcd",
      options,
      [{ name: "client", port: 2379 }, { name: "peer", port: 2380 }],
      { name: "client", port: 2379 },
    ),
    statefulSet,
    infraBudget("etcd", options),
  ];
}
