/**
 * Names and labels of the rendered Kubernetes objects: a mesh name such as `hello_world` or
 * `Frontend` becomes a DNS label (`hello-world`, `frontend`), and every object of one graph
 * carries the same `app.kubernetes.io/*` labels, so `kubectl get all -l
 * app.kubernetes.io/instance=hello-world` lists the whole graph.
 *
 * @example
 * ```ts
 * import { dnsLabel, componentLabels } from "./names.ts";
 *
 * console.log(dnsLabel("encoder_decoder")); // "encoder-decoder"
 * console.log(componentLabels("hello-world", "worker")["app.kubernetes.io/component"]); // "worker"
 * ```
 *
 * @module
 */

/** A name as a DNS-1035 label: lower case, `_` and `.` as `-`; a bad result is a TypeError. */
export function dnsLabel(name: string): string {
  const label = name.toLowerCase().replace(/[_.]/g, "-");
  if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(label)) {
    throw new TypeError(
      `Cannot name a Kubernetes object after ${JSON.stringify(name)}: ` +
        "a name must start with a letter and have at most 63 letters, digits and dashes",
    );
  }
  return label;
}

/** The labels that select the pods of one component of graph `app` (the selector). */
export function selectorLabels(app: string, component: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": "meshwork",
    "app.kubernetes.io/instance": app,
    "app.kubernetes.io/component": component,
  };
}

/** Every label of the objects of one component: the selector plus `managed-by`. */
export function componentLabels(app: string, component: string): Record<string, string> {
  return { ...selectorLabels(app, component), "app.kubernetes.io/managed-by": "meshwork-deploy" };
}
