/**
 * The environment of a mesh container ({@linkcode containerEnv}): where NATS and etcd are
 * (`NATS_SERVER`, `ETCD_ENDPOINTS`), the status port of a component without a gateway
 * (`MESH_STATUS_PORT`, so that probes and Prometheus reach every pod), the pod's IP as the
 * address the registry's scrape targets and the data plane's descriptors name, then the
 * component's `kubernetes.env` (which beats all of these). Credentials come from the optional
 * Secret `<app>-credentials` ({@linkcode credentialsSecretName}), whose keys are variable names
 * (`NATS_USER`, `NATS_PASSWORD`, `NATS_TOKEN`, `ETCD_USERNAME`, `ETCD_PASSWORD`,
 * `MESH_DATA_SECRET`, `MESH_API_KEYS`).
 *
 * @module
 */

import type { ComponentPlan, DeployOptions, DeployPlan } from "./deploy_plan.ts";

/** The status port (`/live`, `/ready`, `/metrics`) of a component without a gateway. */
export const STATUS_PORT = 9090;

/** The optional Secret every pod takes credentials from. */
export function credentialsSecretName(plan: DeployPlan): string {
  return `${plan.app}-credentials`;
}

/** One `env` entry of a container. */
export type EnvVar =
  | { name: string; value: string }
  | { name: string; valueFrom: { fieldRef: { fieldPath: string } } };

/** The `env` of `component`'s container. */
export function containerEnv(component: ComponentPlan, options: DeployOptions): EnvVar[] {
  const podIp = { fieldRef: { fieldPath: "status.podIP" } };
  const env: EnvVar[] = [
    { name: "NATS_SERVER", value: options.natsUrl },
    { name: "ETCD_ENDPOINTS", value: options.etcdUrl },
    ...(component.http ? [] : [{ name: "MESH_STATUS_PORT", value: String(STATUS_PORT) }]),
    { name: "MESH_METRICS_ADVERTISE", valueFrom: podIp },
    { name: "MESH_DATA_ADVERTISE", valueFrom: podIp },
  ];
  for (const [name, value] of Object.entries(component.kubernetes.env ?? {})) {
    const at = env.findIndex((e) => e.name === name);
    if (at >= 0) env[at] = { name, value };
    else env.push({ name, value });
  }
  return env;
}
