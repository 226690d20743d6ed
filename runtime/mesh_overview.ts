/**
 * A snapshot of the whole mesh for the gateway's live page (`/dashboard`): the live instances of
 * a namespace (one registry prefix read) grouped by host, each with its request counters and
 * latency (asked over the bus with the NATS services protocol, ADR-32 `$SRV.STATS`), its rate
 * (from the previous snapshot), its in-flight requests, the work queues' depths, and the errors
 * seen lately.
 *
 * {@linkcode meshOverview} takes one snapshot; {@linkcode MeshOverviewSource} keeps the previous
 * one so that rates work across polls, and shares a recent snapshot between concurrent readers.
 *
 * @example
 * ```ts ignore
 * const source = new MeshOverviewSource(runtime);
 * const overview = await source.latest();
 * for (const host of overview.hosts) console.log(host.hostname, host.instances.length);
 * ```
 *
 * @module
 */

import { namespacePrefix } from "../protocol/names.ts";
import type { InstanceInfo } from "../protocol/instance_info.ts";
import { requestServiceStats, type ServiceStats } from "./service_discovery.ts";
import type { Runtime } from "./runtime.ts";

/** One endpoint of an instance, with its lifetime counters. */
export interface EndpointOverview {
  name: string;
  requests: number;
  errors: number;
  /** Total time spent serving, in nanoseconds (ADR-32 `processing_time`). */
  processingNs: number;
  /** The last error's message, `""` when none. */
  lastError: string;
}

/** One live instance. */
export interface InstanceOverview {
  id: string;
  component: string;
  hostname: string;
  pid: number;
  startedAt: string;
  /** Requests finished since the instance started (every endpoint). */
  requests: number;
  errors: number;
  /** Requests finished per second since the previous snapshot; 0 on the first. */
  rate: number;
  /** Requests being served now; `null` when the instance does not report it. */
  inflight: number | null;
  /** Mean latency since the previous snapshot (lifetime mean when nothing finished since). */
  latencyMs: number | null;
  /** Mean latency since the instance started. */
  avgLatencyMs: number | null;
  /** The last error of any of its endpoints, `""` when none. */
  lastError: string;
  /** Whether the instance answered `$SRV.STATS` for this snapshot. */
  reporting: boolean;
  endpoints: EndpointOverview[];
}

/** The instances on one host. */
export interface HostOverview {
  hostname: string;
  instances: InstanceOverview[];
}

/** A component's totals. */
export interface ComponentOverview {
  name: string;
  instances: number;
  rate: number;
  inflight: number;
  errors: number;
}

/** An error seen between two snapshots (a new `last_error` or more errors). */
export interface RecentError {
  /** When it was seen (ISO time of the snapshot that saw it). */
  at: string;
  instance: string;
  component: string;
  endpoint: string;
  /** The last error's message. */
  message: string;
  /** Errors on this endpoint since the previous snapshot (at least 1). */
  count: number;
}

/** What {@linkcode meshOverview} returns: plain JSON. */
export interface MeshOverview {
  namespace: string;
  /** ISO time of the snapshot. */
  generatedAt: string;
  /** The same, in ms since the epoch (rates are computed from it). */
  generatedAtMs: number;
  components: ComponentOverview[];
  hosts: HostOverview[];
  /** Depth of each work queue this process has opened; `null` when the runtime cannot tell. */
  queues: { name: string; depth: number }[] | null;
  /** Newest first, at most {@linkcode RECENT_ERRORS}. */
  recentErrors: RecentError[];
}

/** How many recent errors a snapshot keeps. */
export const RECENT_ERRORS = 20;

/** Options of {@linkcode meshOverview}. */
export interface MeshOverviewOptions {
  /** How long to collect `$SRV.STATS` answers. Default 250 ms. */
  statsTimeoutMs?: number;
  /** Asks the instances for their stats. Default: `requestServiceStats` on the runtime's bus. */
  requestStats?: (timeoutMs: number) => Promise<ServiceStats[]>;
}

/** The `data` an instance may attach to an endpoint's stats (ADR-32 allows any JSON). */
interface _EndpointData {
  inflight?: number;
}

/**
 * Takes a snapshot of the runtime's namespace. With the `previous` snapshot, rates, interval
 * latencies and the errors seen since are filled in.
 */
export async function meshOverview(
  runtime: Runtime,
  previous?: MeshOverview,
  options: MeshOverviewOptions = {},
): Promise<MeshOverview> {
  const timeoutMs = options.statsTimeoutMs ?? 250;
  const ask = options.requestStats ?? ((ms) => requestServiceStats(runtime.bus, { timeoutMs: ms }));
  const [records, stats, queues] = await Promise.all([
    _instanceRecords(runtime),
    ask(timeoutMs).catch(() => [] as ServiceStats[]),
    _queueDepths(runtime),
  ]);
  const now = runtime.clock.now();
  const at = new Date(now).toISOString();
  const statsById = new Map<string, ServiceStats>();
  for (const s of stats) {
    const ns = s.metadata?.namespace;
    if (ns === undefined || ns === runtime.namespace) statsById.set(s.id, s);
  }
  const before = new Map<string, InstanceOverview>();
  for (const host of previous?.hosts ?? []) {
    for (const instance of host.instances) before.set(instance.id, instance);
  }
  const seconds = previous ? (now - previous.generatedAtMs) / 1000 : 0;
  const fresh: RecentError[] = [];
  const hosts = new Map<string, InstanceOverview[]>();
  for (const record of records.values()) {
    const instance = _instance(runtime, record, statsById.get(record.instance));
    const earlier = before.get(instance.id);
    if (earlier && seconds > 0) _sinceEarlier(instance, earlier, seconds);
    fresh.push(..._newErrors(instance, earlier, at));
    const list = hosts.get(instance.hostname) ?? [];
    list.push(instance);
    hosts.set(instance.hostname, list);
  }
  return {
    namespace: runtime.namespace,
    generatedAt: at,
    generatedAtMs: now,
    components: _components(hosts),
    hosts: [...hosts].sort(([a], [b]) => a.localeCompare(b)).map(([hostname, instances]) => ({
      hostname,
      instances: instances.sort((a, b) =>
        a.component.localeCompare(b.component) || a.id.localeCompare(b.id)
      ),
    })),
    queues,
    recentErrors: [...fresh.reverse(), ...(previous?.recentErrors ?? [])].slice(0, RECENT_ERRORS),
  };
}

/** Options of {@linkcode MeshOverviewSource}. */
export interface MeshOverviewSourceOptions extends MeshOverviewOptions {
  /** A snapshot younger than this is handed out again. Default 1000 ms. */
  maxAgeMs?: number;
}

/**
 * The snapshots of one gateway: keeps the previous snapshot (for rates), takes at most one at a
 * time, and hands a snapshot younger than `maxAgeMs` to every reader that asks.
 */
export class MeshOverviewSource {
  #runtime: Runtime;
  #options: MeshOverviewSourceOptions;
  #last: MeshOverview | undefined;
  #taking: Promise<MeshOverview> | undefined;

  constructor(runtime: Runtime, options: MeshOverviewSourceOptions = {}) {
    this.#runtime = runtime;
    this.#options = options;
  }

  /** The latest snapshot, taken now unless a recent one exists or one is being taken. */
  latest(): Promise<MeshOverview> {
    const maxAgeMs = this.#options.maxAgeMs ?? 1000;
    const last = this.#last;
    if (last && this.#runtime.clock.now() - last.generatedAtMs < maxAgeMs) {
      return Promise.resolve(last);
    }
    this.#taking ??= meshOverview(this.#runtime, last, this.#options)
      .then((overview) => (this.#last = overview))
      .finally(() => (this.#taking = undefined));
    return this.#taking;
  }
}

/** The instance records under the namespace, one per instance (its endpoints merged). */
async function _instanceRecords(runtime: Runtime): Promise<Map<string, InstanceInfo>> {
  const { kvs } = await runtime.registry.getPrefix(namespacePrefix(runtime.namespace));
  const records = new Map<string, InstanceInfo>();
  for (const { value } of kvs) {
    try {
      const info = JSON.parse(value) as InstanceInfo;
      if (typeof info?.instance === "string" && !records.has(info.instance)) {
        records.set(info.instance, info);
      }
    } catch {
      // not an instance record
    }
  }
  return records;
}

/** `runtime.queueDepths()` where the runtime has it. */
async function _queueDepths(runtime: Runtime): Promise<MeshOverview["queues"]> {
  const probe = runtime as unknown as { queueDepths?: () => Promise<Map<string, number>> };
  if (typeof probe.queueDepths !== "function") return null;
  try {
    const depths = await probe.queueDepths();
    return [...depths].map(([name, depth]) => ({ name, depth }))
      .sort((a, b) => a.name.localeCompare(b.name));
  } catch {
    return null;
  }
}

/** One instance from its record and its stats (lifetime numbers only). */
function _instance(
  runtime: Runtime,
  record: InstanceInfo,
  stats: ServiceStats | undefined,
): InstanceOverview {
  const endpoints: EndpointOverview[] = (stats?.endpoints ?? []).map((e) => ({
    name: e.name,
    requests: e.num_requests ?? 0,
    errors: e.num_errors ?? 0,
    processingNs: e.processing_time ?? 0,
    lastError: e.last_error ?? "",
  }));
  const requests = _sum(endpoints, (e) => e.requests);
  const processingNs = _sum(endpoints, (e) => e.processingNs);
  const reported = (stats?.endpoints ?? [])
    .map((e) => (e as { data?: _EndpointData }).data?.inflight)
    .filter((n): n is number => typeof n === "number");
  const local = runtime.localActor(record.instance);
  const avgLatencyMs = requests > 0 ? processingNs / requests / 1e6 : null;
  return {
    id: record.instance,
    component: record.component,
    hostname: record.hostname,
    pid: record.pid,
    startedAt: record.startedAt,
    requests,
    errors: _sum(endpoints, (e) => e.errors),
    rate: 0,
    inflight: reported.length ? _sum(reported, (n) => n) : local ? local.inflightCount : null,
    latencyMs: avgLatencyMs,
    avgLatencyMs,
    lastError: endpoints.find((e) => e.lastError)?.lastError ?? "",
    reporting: stats !== undefined,
    endpoints,
  };
}

/** Fills in the rate and the interval latency from the instance's previous numbers. */
function _sinceEarlier(instance: InstanceOverview, earlier: InstanceOverview, seconds: number) {
  const done = instance.requests - earlier.requests;
  if (done <= 0) return;
  instance.rate = done / seconds;
  const ns = _sum(instance.endpoints, (e) => e.processingNs) -
    _sum(earlier.endpoints, (e) => e.processingNs);
  if (ns >= 0) instance.latencyMs = ns / done / 1e6;
}

/** The errors an instance's endpoints had since the previous snapshot. */
function _newErrors(
  instance: InstanceOverview,
  earlier: InstanceOverview | undefined,
  at: string,
): RecentError[] {
  const errors: RecentError[] = [];
  for (const endpoint of instance.endpoints) {
    const was = earlier?.endpoints.find((e) => e.name === endpoint.name);
    const more = endpoint.errors - (was?.errors ?? 0);
    if (endpoint.lastError && (more > 0 || endpoint.lastError !== (was?.lastError ?? ""))) {
      errors.push({
        at,
        instance: instance.id,
        component: instance.component,
        endpoint: endpoint.name,
        message: endpoint.lastError,
        count: Math.max(1, more),
      });
    }
  }
  return errors;
}

function _components(hosts: Map<string, InstanceOverview[]>): ComponentOverview[] {
  const byName = new Map<string, ComponentOverview>();
  for (const instances of hosts.values()) {
    for (const i of instances) {
      const c = byName.get(i.component) ??
        { name: i.component, instances: 0, rate: 0, inflight: 0, errors: 0 };
      c.instances++;
      c.rate += i.rate;
      c.inflight += i.inflight ?? 0;
      c.errors += i.errors;
      byName.set(i.component, c);
    }
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function _sum<T>(items: readonly T[], value: (item: T) => number): number {
  let total = 0;
  for (const item of items) total += value(item);
  return total;
}
