/**
 * The shape every rendered Kubernetes object shares: `apiVersion`, `kind`, `metadata` and the
 * kind's own fields. The renderers build plain objects; `manifest_yaml.ts` writes them out and
 * `tests/unit/k8s_manifests_test.ts` validates each against the Kubernetes API schemas.
 *
 * @module
 */

/** Metadata of a rendered object. */
export interface K8sMetadata {
  name: string;
  /** Absent: the namespace `kubectl apply` uses. */
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A rendered Kubernetes object. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: K8sMetadata;
  [field: string]: unknown;
}

/** Metadata with `namespace` only when one is given (so the golden output stays short). */
export function metadata(
  name: string,
  namespace: string | undefined,
  labels: Record<string, string>,
  annotations?: Record<string, string>,
): K8sMetadata {
  return {
    name,
    ...(namespace !== undefined ? { namespace } : {}),
    labels,
    ...(annotations ? { annotations } : {}),
  };
}
