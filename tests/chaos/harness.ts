/**
 * Shared pieces of the fault-injection suite (not a test file): in-process "nodes" (a Runtime
 * with its own NATS connection and etcd client, as a separate process would have), a registry
 * wrapper that timestamps what the lease keeper hears from etcd, a component that records every
 * request id it serves (for exactly-once checks), and registry observation helpers.
 *
 * Set `CHAOS_DEBUG=1` to see the nodes' logs.
 *
 * @module
 */

import assert from "node:assert/strict";
import { abortableDelay } from "../../utils/abortable_delay.ts";
import { component } from "../../actors/component.ts";
import { connectEtcdRegistry, type EtcdRegistry } from "../../planes/etcd/etcd_registry.ts";
import { createLogger, type Logger, silentLogger } from "../../utils/logger.ts";
import { connectNatsBus } from "../../planes/nats/connect.ts";
import type { NatsBus } from "../../planes/nats/nats_bus.ts";
import { instancePrefix } from "../../protocol/names.ts";
import { type MeshProcess, spawnMesh } from "../helpers/mesh_process.ts";
import type {
  LeaseId,
  PrefixSnapshot,
  Registry,
  RegistryWatch,
  WatchHandlers,
} from "../../planes/registry.ts";
import { Runtime, type RuntimeOptions } from "../../runtime/runtime.ts";
import type { InstanceInfo } from "../../router/instance_view.ts";

const DEBUG = Deno.env.get("CHAOS_DEBUG") === "1";

/** Writes a line to standard error directly (not through the test runner's capture). */
function rawLine(line: string): void {
  try {
    const err = Deno.openSync("/dev/stderr", { append: true });
    try {
      err.writeSync(new TextEncoder().encode(`${line}\n`));
    } finally {
      err.close();
    }
  } catch {
    console.error(line);
  }
}

/** A logger for a node: silent unless `CHAOS_DEBUG=1`. */
export function nodeLogger(name: string): Logger {
  return DEBUG ? createLogger({ level: "debug", sink: rawLine }, { node: name }) : silentLogger;
}

/** Prints a line only with `CHAOS_DEBUG=1`. */
export function debug(...args: unknown[]): void {
  if (DEBUG) {
    rawLine(`[chaos] ${args.map((a) => typeof a === "string" ? a : Deno.inspect(a)).join(" ")}`);
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A registry that forwards every call and timestamps the keep-alive answers and lease grants:
 * "etcd confirmed this lease alive at t" is what re-registration after an outage comes down to.
 */
export class TracingRegistry implements Registry {
  readonly kind: string;
  readonly address: string;
  readonly inner: Registry;
  /** `Date.now()` of every keep-alive that etcd answered "alive". */
  readonly alive: number[] = [];
  /** `Date.now()` of every lease grant (the first one, and each after a lost lease). */
  readonly grants: number[] = [];

  constructor(inner: Registry) {
    this.inner = inner;
    this.kind = inner.kind;
    this.address = inner.address;
  }

  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    const lease = await this.inner.grantLease(ttlSeconds);
    this.grants.push(Date.now());
    return lease;
  }
  async keepAlive(lease: LeaseId): Promise<boolean> {
    const alive = await this.inner.keepAlive(lease);
    if (alive) this.alive.push(Date.now());
    return alive;
  }
  revokeLease(lease: LeaseId): Promise<void> {
    return this.inner.revokeLease(lease);
  }
  put(key: string, value: string, lease?: LeaseId): Promise<void> {
    return this.inner.put(key, value, lease);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  getPrefix(prefix: string): Promise<PrefixSnapshot> {
    return this.inner.getPrefix(prefix);
  }
  watchPrefix(prefix: string, from: bigint, handlers: WatchHandlers): Promise<RegistryWatch> {
    return this.inner.watchPrefix(prefix, from, handlers);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** One in-process "node": a Runtime with its own NATS connection and etcd client. */
export interface MeshNode extends AsyncDisposable {
  readonly name: string;
  readonly runtime: Runtime;
  readonly bus: NatsBus;
  readonly registry: TracingRegistry;
  /** Lease keeper events, timestamped. */
  readonly leaseEvents: { t: number; type: string }[];
}

/** Options for {@linkcode meshNode}. */
export interface MeshNodeOptions extends Partial<Omit<RuntimeOptions, "bus" | "registry">> {
  namespace: string;
  /** etcd call timeout of this node's client. Default: the product's (5000 ms). */
  etcdTimeoutMs?: number;
}

/** Connects a node to NATS and etcd and makes its Runtime (nothing served yet). */
export async function meshNode(
  name: string,
  natsUrl: string,
  etcdUrl: string,
  options: MeshNodeOptions,
): Promise<MeshNode> {
  const { etcdTimeoutMs, ...runtimeOptions } = options;
  const log = nodeLogger(name);
  const bus = await connectNatsBus({ servers: natsUrl, name, logger: log });
  let etcd: EtcdRegistry;
  try {
    etcd = await connectEtcdRegistry({
      endpoints: etcdUrl,
      dialTimeoutMs: etcdTimeoutMs,
      logger: log,
    });
  } catch (error) {
    await bus.close();
    throw error;
  }
  const registry = new TracingRegistry(etcd);
  const runtime = new Runtime({
    hostname: name,
    logger: log,
    ...runtimeOptions,
    bus,
    registry,
  });
  const leaseEvents: { t: number; type: string }[] = [];
  runtime.keeper.on((event) => leaseEvents.push({ t: Date.now(), type: event.type }));
  return {
    name,
    runtime,
    bus,
    registry,
    leaseEvents,
    async [Symbol.asyncDispose]() {
      await runtime.shutdown(1000);
      await etcd.close();
      await bus.close();
    },
  };
}

/** The request of a {@linkcode recorder} component. */
export interface RecordedRequest {
  id: string;
}

/**
 * A component that records every request id it starts serving (`served`: id → instance ids),
 * waits `delayMs` (cancellable) and answers `{id, instance}`. An id served twice is a duplicate.
 */
export function recorder(name: string, served: Map<string, string[]>, delayMs = 10) {
  return component({
    name,
    endpoints: {
      async *generate(request: RecordedRequest, ctx) {
        const seen = served.get(request.id);
        if (seen) seen.push(ctx.instanceId);
        else served.set(request.id, [ctx.instanceId]);
        if (delayMs > 0) await abortableDelay(delayMs, ctx.signal);
        yield { id: request.id, instance: ctx.instanceId };
      },
    },
  });
}

/** Ids served more than once. */
export function duplicates(served: Map<string, string[]>): string[] {
  return [...served].filter(([, instances]) => instances.length > 1).map(([id]) => id);
}

/** The instance records under `prefix`, read by `observer`; `undefined` when etcd is not there. */
export async function instancesAt(
  observer: Registry,
  prefix: string,
): Promise<InstanceInfo[] | undefined> {
  try {
    const snapshot = await observer.getPrefix(prefix);
    return snapshot.kvs.map((kv) => JSON.parse(kv.value) as InstanceInfo);
  } catch {
    return undefined;
  }
}

/**
 * Polls (every 50 ms, bounded) until `done(instances)` holds for the records under `prefix`;
 * resolves with the time it held first.
 */
export async function pollRegistry(
  observer: Registry,
  prefix: string,
  done: (instances: InstanceInfo[]) => boolean,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const giveUp = Date.now() + timeoutMs;
  let last: InstanceInfo[] | undefined;
  for (;;) {
    last = await instancesAt(observer, prefix);
    if (last && done(last)) return Date.now();
    if (Date.now() > giveUp) {
      assert.fail(
        `${what}: not within ${timeoutMs} ms; the registry holds ${
          last ? JSON.stringify(last.map((i) => `${i.instance}@${i.pid}`)) : "(unreachable)"
        }`,
      );
    }
    await sleep(50);
  }
}

/** An observer client to etcd with a short call timeout (for polling through an outage). */
export function observer(etcdUrl: string): Promise<EtcdRegistry> {
  return connectEtcdRegistry({ endpoints: etcdUrl, dialTimeoutMs: 1000, logger: silentLogger });
}

/** Runs `work` with a hard bound: a hang fails the test with `what` instead of hanging it. */
export async function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The value of metric `name` on etcd's own `/metrics` (summed over its series, `0` when etcd has
 * not reported it yet); `undefined` when etcd does not answer. Counters start from zero when etcd
 * restarts.
 */
export async function etcdMetric(endpoint: string, name: string): Promise<number | undefined> {
  let text: string;
  try {
    const response = await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(1000) });
    text = await response.text();
    if (!response.ok) return undefined;
  } catch {
    return undefined;
  }
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

/** The registry prefix of the hello-world Workers. */
export const HELLO_WORKERS = instancePrefix({
  namespace: "hello_world",
  component: "Worker",
  endpoint: "generate",
});

/** The hello-world gateway and Processor as one process (seed 000's node 1), on `port`. */
export function spawnFront(env: Record<string, string>, port: number): MeshProcess {
  return spawnMesh([
    "serve",
    "--config",
    "configs/multi_worker.yaml",
    "--only",
    "Frontend,Processor",
    `--Frontend.port=${port}`,
    "--Frontend.request_timeout_ms=10000",
  ], { env: { ...env, MESH_HOSTNAME: "front" } });
}
