/**
 * The runtime's Prometheus metrics, read from the runtime when scraped (nothing is counted twice
 * on the request path): instances per component; per instance, the requests, errors and latency
 * of each endpoint (`mesh_requests_total`, `mesh_request_errors_total`,
 * `mesh_request_duration_seconds`), the requests in flight and the counters its component made
 * (`mesh_<name>_total`, `StartContext.counter`); dropped messages, and every supervisor decision.
 * Per-instance series are those of the instances running now: a stopped instance's go away.
 *
 * @module
 */

import { Counter, Gauge, type Registry } from "prom-client";
import type { Runtime } from "./runtime.ts";
import type { Supervisor } from "../actors/supervisor.ts";
import type { Actor } from "../actors/actor.ts";
import { type EndpointStats, LATENCY_BUCKETS } from "../actors/endpoint_stats.ts";

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

/** One sample as prom-client's registry reads it. */
interface _Sample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * A metric whose samples are read from the running instances at each scrape: nothing is kept
 * between scrapes, so the series of a stopped instance ends with it. Registers in a prom-client
 * registry like any metric (the same duck type as `utils/cheap_histogram.ts`).
 */
class _ScrapedMetric {
  readonly aggregator = "sum";
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge" | "histogram",
    readonly read: () => _Sample[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  get() {
    const { name, help, type, aggregator } = this;
    return { name, help, type, aggregator, values: this.read() };
  }

  reset(): void {}
}

/** Samples of `value` for every endpoint of every running instance. */
function _perEndpoint(
  actors: readonly Actor[],
  value: (stats: EndpointStats) => number,
): _Sample[] {
  const samples: _Sample[] = [];
  for (const actor of actors) {
    for (const stats of actor.endpointStats.endpoints) {
      const labels = { component: actor.definition.name, endpoint: stats.name, instance: actor.id };
      samples.push({ labels, value: value(stats) });
    }
  }
  return samples;
}

/** The `_bucket`, `_sum` and `_count` samples of every endpoint of every running instance. */
function _latencySamples(name: string, actors: readonly Actor[]): _Sample[] {
  const samples: _Sample[] = [];
  for (const actor of actors) {
    for (const stats of actor.endpointStats.endpoints) {
      const labels = { component: actor.definition.name, endpoint: stats.name, instance: actor.id };
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += stats.bucketCounts[i]!;
        samples.push({
          metricName: `${name}_bucket`,
          labels: { ...labels, le },
          value: cumulative,
        });
      });
      samples.push({
        metricName: `${name}_bucket`,
        labels: { ...labels, le: "+Inf" },
        value: stats.requests,
      });
      samples.push({ metricName: `${name}_sum`, labels, value: stats.processingSeconds });
      samples.push({ metricName: `${name}_count`, labels, value: stats.requests });
    }
  }
  return samples;
}

/** Exports the instances' counter `name` (`StartContext.counter`) as `mesh_<name>_total`. */
function _componentCounter(registry: Registry, runtime: Runtime, name: string, help: string) {
  const metric = `mesh_${name}_total`;
  if (registry.getSingleMetric(metric)) return;
  new _ScrapedMetric(metric, help, "counter", () => {
    const samples: _Sample[] = [];
    for (const actor of runtime.actors) {
      const counter = actor.counters.get(name);
      if (counter === undefined) continue;
      samples.push({
        labels: { component: actor.definition.name, instance: actor.id },
        value: counter.value,
      });
    }
    return samples;
  }, registry);
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
  new _ScrapedMetric(
    "mesh_inflight_requests",
    "Requests being served now, by instance",
    "gauge",
    () =>
      runtime.actors.map((actor) => ({
        labels: { component: actor.definition.name, instance: actor.id },
        value: actor.inflightCount,
      })),
    registry,
  );
  new _ScrapedMetric(
    "mesh_requests_total",
    "Requests finished (ok or error), by instance and endpoint",
    "counter",
    () => _perEndpoint(runtime.actors, (stats) => stats.requests),
    registry,
  );
  new _ScrapedMetric(
    "mesh_request_errors_total",
    "Requests that ended in an error, by instance and endpoint",
    "counter",
    () => _perEndpoint(runtime.actors, (stats) => stats.errors),
    registry,
  );
  new _ScrapedMetric(
    "mesh_request_duration_seconds",
    "Request time from arrival at the instance to its last reply frame",
    "histogram",
    () => _latencySamples("mesh_request_duration_seconds", runtime.actors),
    registry,
  );
  const counterHelp = new Map<string, string>();
  const addCounter = (name: string, help: string) => {
    if (counterHelp.has(name)) return;
    counterHelp.set(name, help);
    _componentCounter(registry, runtime, name, help);
  };
  for (const actor of runtime.actors) {
    for (const counter of actor.counters.values()) addCounter(counter.name, counter.help);
  }
  runtime.onCounter((counter) => addCounter(counter.name, counter.help));
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
