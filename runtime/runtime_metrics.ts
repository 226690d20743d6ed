/**
 * The runtime's Prometheus metrics, read from the runtime when scraped (nothing is counted twice
 * on the request path): instances and in-flight requests per component, dropped messages, and
 * every supervisor decision.
 *
 * @module
 */

import { Counter, Gauge, type Registry } from "prom-client";
import type { Runtime } from "./runtime.ts";
import type { Supervisor } from "../actors/supervisor.ts";

/** What the metrics read. */
export interface MetricSources {
  runtime: Runtime;
  /** Supervisors outside the runtime (child-process instances). */
  supervisors?: () => readonly Supervisor[];
}

/** A counter whose value is read from a running total when scraped. */
function totalCounter(
  registry: Registry,
  name: string,
  help: string,
  label: string,
  read: () => Map<string, number>,
): void {
  const seen = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [key, total] of read()) {
        const delta = total - (seen.get(key) ?? 0);
        if (delta > 0) this.inc({ [label]: key }, delta);
        seen.set(key, Math.max(total, seen.get(key) ?? 0));
      }
    },
  });
}

function sumBy<T>(items: Iterable<T>, key: (item: T) => string, value: (item: T) => number) {
  const sums = new Map<string, number>();
  for (const item of items) sums.set(key(item), (sums.get(key(item)) ?? 0) + value(item));
  return sums;
}

/** Registers the runtime's metrics on `registry`. */
export function registerRuntimeMetrics(registry: Registry, sources: MetricSources): void {
  const { runtime } = sources;
  const allSupervisors = () => [...runtime.supervisors, ...(sources.supervisors?.() ?? [])];
  new Gauge({
    name: "mesh_instances",
    help: "Instances running in this process, by component",
    labelNames: ["component"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [component, n] of sumBy(runtime.actors, (a) => a.definition.name, () => 1)) {
        this.set({ component }, n);
      }
    },
  });
  new Gauge({
    name: "mesh_inflight_requests",
    help: "Requests being served by this process's instances, by component",
    labelNames: ["component"],
    registers: [registry],
    collect() {
      this.reset();
      const sums = sumBy(runtime.actors, (a) => a.definition.name, (a) => a.inflightCount);
      for (const [component, n] of sums) this.set({ component }, n);
    },
  });
  totalCounter(
    registry,
    "mesh_dropped_messages_total",
    "Mailbox messages dropped because they were not request envelopes",
    "component",
    () => sumBy(runtime.actors, (a) => a.definition.name, (a) => a.droppedMessages),
  );
  totalCounter(
    registry,
    "mesh_supervisor_restarts_total",
    "Restarts decided by each supervisor",
    "supervisor",
    () =>
      sumBy(
        allSupervisors(),
        (s) => s.name,
        (s) => Object.values(s.stats.restarts).reduce((a, b) => a + b, 0),
      ),
  );
  totalCounter(
    registry,
    "mesh_supervisor_escalations_total",
    "Times a supervisor gave up (restart intensity exceeded)",
    "supervisor",
    () => sumBy(allSupervisors(), (s) => s.name, (s) => s.stats.escalations),
  );
}
