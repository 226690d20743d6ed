/**
 * A Prometheus histogram without labels whose `observe()` is a few array writes: prom-client's
 * own histogram hashes a label set and validates it on every observation, which shows in a
 * per-request profile. It registers in a prom-client `Registry` like any metric and renders the
 * same exposition (`_bucket{le=...}`, `_sum`, `_count`).
 *
 * @module
 */

/** What prom-client's registry reads from a metric. */
interface _MetricValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** A registry that takes metrics: prom-client's `Registry`. */
export interface MetricRegistry {
  registerMetric(metric: never): void;
}

/** Options of {@linkcode CheapHistogram}. */
export interface CheapHistogramOptions {
  name: string;
  help: string;
  /** Upper bounds, ascending. */
  buckets: readonly number[];
  /** Registries to register in. */
  registers?: readonly MetricRegistry[];
}

/**
 * A label-free histogram.
 *
 * @example
 * ```ts
 * import { Registry } from "prom-client";
 * import { CheapHistogram } from "./cheap_histogram.ts";
 * const registry = new Registry();
 * const h = new CheapHistogram({ name: "t", help: "h", buckets: [0.1, 1], registers: [registry] });
 * h.observe(0.5);
 * console.assert((await registry.metrics()).includes('t_bucket{le="1"} 1'));
 * ```
 */
export class CheapHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly #bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(options: CheapHistogramOptions) {
    this.name = options.name;
    this.help = options.help;
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
    this.#counts = new Float64Array(this.#bounds.length);
    for (const registry of options.registers ?? []) registry.registerMetric(this as never);
  }

  /** Counts one observation. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.#sum += value;
    this.#count++;
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.#counts[i]!++;
        return;
      }
    }
  }

  /** Forgets every observation. */
  reset(): void {
    this.#counts.fill(0);
    this.#sum = 0;
    this.#count = 0;
  }

  /** The values as prom-client's registry reads them (cumulative buckets). */
  get(): {
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: _MetricValue[];
  } {
    const values: _MetricValue[] = [];
    let cumulative = 0;
    this.#bounds.forEach((bound, i) => {
      cumulative += this.#counts[i]!;
      values.push({ metricName: `${this.name}_bucket`, labels: { le: bound }, value: cumulative });
    });
    values.push({ metricName: `${this.name}_bucket`, labels: { le: "+Inf" }, value: this.#count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.#sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.#count });
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }
}
