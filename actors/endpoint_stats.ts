/**
 * What one instance has served: per endpoint, the requests, the errors, the total processing
 * time, the last error and a latency histogram; and the instance's own counters
 * (`StartContext.counter()`, e.g. tokens generated). The runtime reads them when scraped
 * (`/metrics`) or asked (`$SRV.STATS`, ADR-32); the request path only adds to them: two clock
 * reads and a few increments per request, no allocation.
 *
 * @module
 */

/**
 * Upper bounds, in seconds, of the request-latency histogram (`le`): Prometheus' default buckets,
 * a finer start for in-process calls and a longer tail for LLM-length streams.
 */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
];

/** A clock for durations, in milliseconds (fractions allowed), e.g. `performance.now`. */
export type DurationClock = () => number;

/** The requests one endpoint of one instance has finished. */
export class EndpointStats {
  /** The endpoint name. */
  readonly name: string;
  /** Requests finished, ok or not. */
  requests = 0;
  /** Requests started and not finished yet. */
  inflight = 0;
  /** Requests that ended in an error (answered with an error frame, or thrown to a local caller). */
  errors = 0;
  /** Total processing time in nanoseconds. */
  processingNs = 0;
  /** Total processing time in seconds (the histogram's `_sum`). */
  processingSeconds = 0;
  /** The message of the last error; empty when there was none. */
  lastError = "";
  /**
   * Requests per latency bucket of {@linkcode LATENCY_BUCKETS}, not cumulative; the last slot
   * counts the requests slower than the largest bound.
   */
  readonly bucketCounts: Float64Array = new Float64Array(LATENCY_BUCKETS.length + 1);
  readonly #now: DurationClock;

  constructor(name: string, now: DurationClock) {
    this.name = name;
    this.#now = now;
  }

  /** Reads the clock at the start of a request; hand the value to {@linkcode finish}. */
  start(): number {
    this.inflight++;
    return this.#now();
  }

  /** Counts a finished request that started at `startedAt`; `error` is its message if it failed. */
  finish(startedAt: number, error?: string): void {
    const ms = Math.max(0, this.#now() - startedAt);
    this.inflight--;
    this.#count(ms, error);
  }

  /** Counts a request refused at once (`busy`): an error that took no time. */
  refuse(error: string): void {
    this.#count(0, error);
  }

  #count(ms: number, error: string | undefined): void {
    this.requests++;
    this.processingNs += Math.round(ms * 1e6);
    const seconds = ms / 1000;
    this.processingSeconds += seconds;
    if (error !== undefined) {
      this.errors++;
      this.lastError = error;
    }
    const bounds = LATENCY_BUCKETS;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    this.bucketCounts[i]!++;
  }
}

/** A counter of an instance, from `StartContext.counter(name, help)`. */
export class InstanceCounter {
  readonly name: string;
  readonly help: string;
  #value = 0;

  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  /** The total so far. */
  get value(): number {
    return this.#value;
  }

  /** Adds `n` (a finite number, zero or more). */
  add(n: number): void {
    if (!(n >= 0) || !Number.isFinite(n)) {
      throw new RangeError(`Cannot add ${n} to counter "${this.name}": use a finite number >= 0`);
    }
    this.#value += n;
  }
}

const _COUNTER_NAME = /^[a-z][a-z0-9_]*$/;
/** Names whose `mesh_<name>_total` the runtime or the gateway already exports. */
const _RESERVED = new Set([
  "requests",
  "request_errors",
  "dropped_messages",
  "supervisor_restarts",
  "supervisor_escalations",
  "gateway_requests",
]);

/** Throws a `TypeError` unless `name` can name a component counter (`[a-z][a-z0-9_]*`). */
export function checkCounterName(name: string): string {
  if (typeof name !== "string" || !_COUNTER_NAME.test(name) || name.endsWith("_total")) {
    throw new TypeError(
      `Invalid counter name ${JSON.stringify(name)}: use [a-z][a-z0-9_]* without "_total"`,
    );
  }
  if (_RESERVED.has(name)) {
    throw new TypeError(`Invalid counter name "${name}": mesh_${name}_total is the mesh's own`);
  }
  return name;
}

/** Everything one instance has served and counted since it started. */
export class InstanceStats {
  /** When the instance started (Unix ms). */
  readonly startedAt: number;
  readonly #now: DurationClock;
  readonly #endpoints = new Map<string, EndpointStats>();
  readonly #counters = new Map<string, InstanceCounter>();
  readonly #onCounter: ((counter: InstanceCounter) => void) | undefined;

  /**
   * `now` measures durations; `startedAt` is the wall-clock start; `onCounter` hears of each new
   * counter (the runtime's metrics register its name).
   */
  constructor(
    now: DurationClock,
    startedAt: number,
    onCounter?: (counter: InstanceCounter) => void,
  ) {
    this.#now = now;
    this.startedAt = startedAt;
    this.#onCounter = onCounter;
  }

  /** The stats of an endpoint (made on first use). */
  endpoint(name: string): EndpointStats {
    let stats = this.#endpoints.get(name);
    if (stats === undefined) {
      stats = new EndpointStats(name, this.#now);
      this.#endpoints.set(name, stats);
    }
    return stats;
  }

  /** The endpoints' stats, in the order they were first used. */
  get endpoints(): EndpointStats[] {
    return [...this.#endpoints.values()];
  }

  /**
   * The instance's counter `name` (made on first use; the same counter on later calls). Throws a
   * `TypeError` for a bad name.
   */
  counter(name: string, help: string): InstanceCounter {
    let counter = this.#counters.get(name);
    if (counter === undefined) {
      counter = new InstanceCounter(checkCounterName(name), help || name);
      this.#counters.set(name, counter);
      this.#onCounter?.(counter);
    }
    return counter;
  }

  /** The instance's counters by name. */
  get counters(): ReadonlyMap<string, InstanceCounter> {
    return this.#counters;
  }
}
