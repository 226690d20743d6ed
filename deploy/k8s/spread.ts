/**
 * How a component's pods spread over nodes: the seed's `multinode.nodeCount` mapped onto
 * `topologySpreadConstraints` over `kubernetes.io/hostname` ({@linkcode topologySpread}).
 *
 * - Always `maxSkew: 1`: no node holds two more of the component's pods than another.
 * - Without `kubernetes.multinode`, the spread is a preference (`ScheduleAnyway`): on a one-node
 *   cluster every pod still runs.
 * - With `kubernetes.multinode.node_count: N`, it is required (`DoNotSchedule`) with
 *   `minDomains: N`: while fewer than N nodes hold one of the pods, no node gets a second, so the
 *   instances land on at least N distinct nodes (replicas beyond N are spread evenly). With
 *   fewer than N schedulable nodes, the pods beyond them stay Pending: visible, not squeezed.
 * - `matchLabelKeys: [pod-template-hash]` counts each revision on its own, so that the surge pod
 *   of a rolling update is never blocked by the pods it replaces.
 *
 * @module
 */

import type { ComponentPlan } from "./deploy_plan.ts";

/** The `topologySpreadConstraints` of the pods of `component` (selected by `selector`). */
export function topologySpread(
  component: ComponentPlan,
  selector: Record<string, string>,
): Record<string, unknown>[] {
  const nodeCount = component.kubernetes.multinode?.nodeCount;
  return [{
    maxSkew: 1,
    topologyKey: "kubernetes.io/hostname",
    whenUnsatisfiable: nodeCount === undefined ? "ScheduleAnyway" : "DoNotSchedule",
    ...(nodeCount === undefined ? {} : { minDomains: nodeCount }),
    labelSelector: { matchLabels: selector },
    matchLabelKeys: ["pod-template-hash"],
  }];
}
