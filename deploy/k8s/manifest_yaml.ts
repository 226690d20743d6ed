/**
 * Rendered objects as YAML: one multi-document stream for stdout ({@linkcode manifestsYaml}), or
 * one file per object for `--out DIR` ({@linkcode manifestFiles}, numbered in apply order). The
 * one place outside `configs/` that uses `npm:yaml`, and only to write it: no config is parsed
 * here.
 *
 * @module
 */

import { stringify } from "yaml";
import type { K8sObject } from "./k8s_object.ts";

/** One object as a YAML document (no line folding, so long arguments stay whole). */
export function objectYaml(object: K8sObject): string {
  return stringify(object, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Every object, as `---`-separated documents. */
export function manifestsYaml(objects: readonly K8sObject[]): string {
  return objects.map((object) => `---\n${objectYaml(object)}`).join("");
}

/** File name → YAML, one per object: `01-deployment-hello-world-worker.yaml`, ... */
export function manifestFiles(objects: readonly K8sObject[]): Map<string, string> {
  const width = String(objects.length).length < 2 ? 2 : String(objects.length).length;
  return new Map(objects.map((object, i) => [
    `${
      String(i + 1).padStart(width, "0")
    }-${object.kind.toLowerCase()}-${object.metadata.name}.yaml`,
    objectYaml(object),
  ]));
}
