/**
 * The client to one `namespace/Component/endpoint`: it keeps a live view of the instances, picks
 * one by policy, and streams the reply back as chunks, from an instance in this process
 * (`preferLocal`, through {@linkcode LocalEndpoint}) or over the bus (`remote_call.ts`).
 *
 * A request that no instance took (nobody subscribed, or no first frame in time) marks that
 * instance down (`down_marks.ts`) and is tried on another; `attempts.ts` decides what follows a
 * failed attempt. An instance that the reply inbox's probe found lost is marked down for
 * `lostMs`. A call with the `work_queue` policy picks nobody: it goes through the durable
 * work queue (`queue_call.ts`).
 *
 * @module
 */

import type { Bus } from "../planes/bus.ts";
import type { CallOptions, WaitOptions } from "../protocol/call_options.ts";
import { MeshError } from "../protocol/errors.ts";
import type { InstanceInfo } from "../protocol/instance_info.ts";
import { type EndpointAddress, formatAddress } from "../protocol/names.ts";
import { encodeJson } from "../protocol/wire.ts";
import type { Clock } from "../utils/clock.ts";
import type { Logger } from "../utils/logger.ts";
import type { Random } from "../utils/random.ts";
import { CallAttempts } from "./attempts.ts";
import { type CallHost, CallStream } from "./call_stream.ts";
import { DownMarks } from "./down_marks.ts";
import type { InstanceView } from "./instance_view.ts";
import type { LocalEndpoint } from "./local_dispatch.ts";
import { canonicalPolicyName, createPolicy, type RoutingPolicy } from "./policies/mod.ts";
import { queueCall } from "./queue_call.ts";
import { remoteCall } from "./remote_call.ts";
import type { ReplyInbox } from "./reply_inbox.ts";
import type { QueueHandle } from "../planes/work_queue.ts";

export type { CallOptions, WaitOptions } from "../protocol/call_options.ts";

/** Settings of a client. */
export interface ClientSettings {
  /** Default policy. Default `round_robin`. */
  policy?: string;
  /** Prefer an instance in this process when there is one. Default true. */
  preferLocal?: boolean;
  /** Tries per call, counting the first. Default 3. */
  maxAttempts?: number;
  /** How long a call waits for a live instance before `no_instances`. Default 5000 ms. */
  waitMs?: number;
  /** Default time a call may take. Default 60 000 ms. */
  timeoutMs?: number;
  /** The request field that keys `consistent_hash`. Default `session_id`. */
  hashKey?: string;
  /**
   * How often one call may move to another instance when a `resumable` stream loses its
   * instance. Default 2.
   */
  migrationLimit?: number;
  /**
   * How long an instance that did not take a request is skipped, unless the registry says more
   * first. Default 2000 ms.
   */
  downMs?: number;
  /**
   * How long an instance that a probe found lost (killed, frozen or cut off mid-request: the
   * reply inbox's `quietMs` and `probeTimeoutMs`) is skipped, unless the registry says more
   * first. Default 10 000 ms, the lease TTL: by then a dead instance's lease has expired.
   */
  lostMs?: number;
}

/** What a client needs from the runtime that owns it. */
export interface ClientHost {
  readonly bus: Bus;
  readonly clock: Clock;
  readonly log: Logger;
  readonly inbox: ReplyInbox;
  /** Draws for the random policies. Default: the system source. */
  readonly random?: Random;
  /** The instance with this id when it runs in this process. */
  localActor(instance: string): LocalEndpoint | undefined;
  /** The durable work queue of an endpoint (for the `work_queue` policy). */
  workQueue?(address: EndpointAddress): Promise<QueueHandle>;
}

/** A client to one endpoint of a component. */
export class EndpointClient {
  readonly address: EndpointAddress;
  readonly settings: Required<ClientSettings>;
  #host: ClientHost;
  #view: InstanceView;
  #target: string;
  #policies = new Map<string, RoutingPolicy>();
  #down: DownMarks;
  #inflight = new Map<string, _InflightCount>();
  #routableOf: readonly InstanceInfo[] | undefined;
  #routableList: readonly InstanceInfo[] = [];
  #offView: () => void;
  #offLost: () => void;

  constructor(
    host: ClientHost,
    address: EndpointAddress,
    view: InstanceView,
    settings: ClientSettings = {},
  ) {
    this.#host = host;
    this.address = address;
    this.#target = formatAddress(address);
    this.#view = view;
    this.#down = new DownMarks(host.clock);
    this.settings = {
      policy: canonicalPolicyName(settings.policy ?? "round_robin"),
      preferLocal: settings.preferLocal ?? true,
      maxAttempts: settings.maxAttempts ?? 3,
      waitMs: settings.waitMs ?? 5000,
      timeoutMs: settings.timeoutMs ?? 60_000,
      hashKey: settings.hashKey ?? "session_id",
      downMs: settings.downMs ?? 2000,
      lostMs: settings.lostMs ?? 10_000,
      migrationLimit: settings.migrationLimit ?? 2,
    };
    this.#policy(this.settings.policy); // validates the name now, not on the first call
    this.#offView = view.onChange((change) => {
      this.#down.clear(change.instance);
      const count = this.#inflight.get(change.instance);
      if (count !== undefined) {
        count.gone = change.type === "removed";
        if (count.gone && count.n === 0) this.#inflight.delete(change.instance);
      }
      // A lost instance fails its calls at once. Not so one that deregistered in a graceful stop
      // (it said so first: `meta.draining`) and is finishing those calls, nor one that a reload
      // no longer found (the store was wiped: it is alive and registers again). Their calls stay
      // guarded by the ack and heartbeat timeouts.
      if (
        change.type === "removed" && !change.resync && change.previous.meta?.draining !== true
      ) {
        host.inbox.failInstance(change.instance);
      }
    });
    this.#offLost = host.inbox.onInstanceLost((instance) => {
      if (this.#view.get(instance)) this.#down.mark(instance, this.settings.lostMs);
    });
  }

  /** The live instances, ordered by instance id. */
  instances(): readonly InstanceInfo[] {
    return this.#view.instances;
  }

  /** The ids of the live instances. */
  instanceIds(): string[] {
    return this.#view.instances.map((info) => info.instance);
  }

  /**
   * Waits until at least `count` instances are live, logging
   * `Waiting for more workers to be ready. Current: X, Required: Y` each time the count changes
   * (unless `quiet`). Resolves with their ids. After `timeoutMs` it fails `no_instances` with that
   * same message; when `signal` aborts, `cancelled`.
   */
  async waitForInstances(count: number, options: WaitOptions = {}): Promise<string[]> {
    const { clock, log } = this.#host;
    const noun = options.noun ?? "workers";
    const giveUpAt = options.timeoutMs === undefined ? Infinity : clock.now() + options.timeoutMs;
    const waiting = (current: number) =>
      `Waiting for more ${noun} to be ready. Current: ${current}, Required: ${count}`;
    let logged = -1;
    for (;;) {
      const current = this.#view.instances.length;
      if (current >= count) break;
      if (current !== logged && !options.quiet) {
        log.info(waiting(current), { target: this.#target });
        logged = current;
      }
      if (options.signal?.aborted) throw new MeshError("cancelled", "Stopped waiting");
      const remaining = giveUpAt - clock.now();
      if (remaining <= 0) throw new MeshError("no_instances", waiting(current));
      await this.#changedOrTimeout(remaining, options.signal);
    }
    const ids = this.instanceIds();
    if (!options.quiet) {
      log.info(`${noun[0]!.toUpperCase()}${noun.slice(1)} are all ready: [${ids.join(", ")}]`, {
        target: this.#target,
      });
    }
    return ids;
  }

  /** Calls the endpoint with the client's default policy. */
  generate(request: unknown, options: CallOptions = {}): AsyncIterable<unknown> {
    return this.#call(request, options);
  }

  /** Calls the next instance in turn. */
  roundRobin(request: unknown, options: CallOptions = {}): AsyncIterable<unknown> {
    return this.#call(request, { ...options, policy: "round_robin" });
  }

  /** Calls a random instance. */
  random(request: unknown, options: CallOptions = {}): AsyncIterable<unknown> {
    return this.#call(request, { ...options, policy: "random" });
  }

  /** Calls one instance by id; an unknown id is a `not_found` error. */
  direct(request: unknown, instanceId: string, options: CallOptions = {}): AsyncIterable<unknown> {
    return this.#call(request, { ...options, directTo: instanceId });
  }

  /** Stops following the registry for this client. */
  close(): void {
    this.#offView();
    this.#offLost();
  }

  #policy(name: string): RoutingPolicy {
    const canonical = canonicalPolicyName(name);
    let policy = this.#policies.get(canonical);
    if (!policy) {
      policy = createPolicy(canonical, this.#host.random);
      this.#policies.set(canonical, policy);
    }
    return policy;
  }

  /**
   * A queued request would wait for a worker that never comes when the live instances do not
   * serve the queue (`ServiceArgs.queue` unset): say so at once instead of at the deadline. With
   * no live instance at all the request waits, as queued requests do.
   */
  #queueProblem(): MeshError | undefined {
    const live = this.#view.instances;
    if (live.length > 0 && !live.some((info) => info.meta?.queue === true)) {
      return new MeshError(
        "no_instances",
        `"${this.#target}" is not served from its work queue: set ServiceArgs.queue: true for ` +
          `${this.address.component}, or call it with another routing policy`,
        { retryable: false },
      );
    }
    return undefined;
  }

  #call(request: unknown, options: CallOptions): AsyncIterable<unknown> {
    const { clock, log } = this.#host;
    const deadline = options.deadline ?? clock.now() + this.settings.timeoutMs;
    const requestId = options.requestId ?? crypto.randomUUID();
    const { signal, directTo: instanceId } = options;
    const policy = instanceId ? undefined : this.#policy(options.policy ?? this.settings.policy);
    if ((policy as { viaWorkQueue?: boolean } | undefined)?.viaWorkQueue === true) {
      const problem = this.#queueProblem();
      if (problem) return _failing(problem);
      const call = { requestId, deadline, attempt: 1, signal: options.signal };
      return queueCall(this.#host, this.address, encodeJson(request), call, options.traceparent);
    }
    const viaQueue = policy?.viaQueueGroup === true;
    const key = options.key ?? this.#keyOf(request);
    let body: Uint8Array | undefined;
    const host: CallHost = {
      now: () => clock.now(),
      pickAtOnce: (attempts) => this.#pickAtOnce(policy, instanceId, key, attempts),
      choose: (attempts) => this.#choose(policy, instanceId, key, attempts, deadline, signal),
      start: (target, call) => {
        const local = target && this.settings.preferLocal
          ? this.#host.localActor(target.instance)
          : undefined;
        const chunks = local?.running
          ? local.dispatchLocal(this.address.endpoint, request, call)
          : remoteCall(
            this.#host,
            this.address,
            target,
            body ??= encodeJson(request),
            call,
            options.traceparent,
          );
        return { chunks, local: local !== undefined };
      },
      count: this.#count,
      newAttempts: () =>
        new CallAttempts(
          this.#target,
          requestId,
          this.settings,
          { direct: instanceId !== undefined, viaQueue },
          { log, markDown: (instance) => this.#down.mark(instance, this.settings.downMs) },
        ),
    };
    return new CallStream(host, { requestId, deadline, signal, viaQueue });
  }

  #count = (instance: string, delta: 1 | -1) => this.#countInflight(instance, delta);

  #countInflight(instance: string, delta: 1 | -1): void {
    // One record per instance, changed in place: one map lookup per change (with thousands of
    // instances each lookup is a cache miss or two). A count that drops to 0 stays while the
    // instance is live (deleting and adding it again on every call churns the map); it goes
    // when the instance has left the view.
    let count = this.#inflight.get(instance);
    if (count === undefined) {
      count = { n: 0, gone: this.#view.get(instance) === undefined };
      this.#inflight.set(instance, count);
    }
    count.n = Math.max(0, count.n + delta);
    if (count.n === 0 && count.gone) this.#inflight.delete(instance);
  }

  /** The routing key of a request: its `hashKey` field (default `session_id`), when present. */
  #keyOf(request: unknown): string | undefined {
    if (!request || typeof request !== "object") return undefined;
    const value = (request as Record<string, unknown>)[this.settings.hashKey];
    return typeof value === "string" || typeof value === "number" ? String(value) : undefined;
  }

  /**
   * The instance for the next attempt: the named one (`direct`), or the policy's pick among the
   * live instances this call has not tried, that are not draining and not marked down (those in
   * this process first, with `preferLocal`). Waits for one up to `waitMs`.
   */
  async #choose(
    policy: RoutingPolicy | undefined,
    instanceId: string | undefined,
    key: string | undefined,
    attempts: CallAttempts | undefined,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<InstanceInfo> {
    const clock = this.#host.clock;
    const giveUpAt = Math.min(deadline, clock.now() + this.settings.waitMs);
    let allDownSince: number | undefined;
    for (;;) {
      if (instanceId !== undefined) {
        const info = this.#view.get(instanceId);
        if (info) return info;
        throw new MeshError(
          "not_found",
          `No live instance "${instanceId}" of "${this.#target}"; live instances: ${
            this.instanceIds().join(", ") || "none"
          }`,
        );
      }
      // One pass over the view: the untried live instances, and those of them not marked down.
      const untried: string[] = [];
      let candidates: InstanceInfo[] = [];
      for (const info of this.#view.instances) {
        if (attempts?.tried.has(info.instance) || info.meta?.draining === true) continue;
        untried.push(info.instance);
        if (!this.#down.isDown(info.instance)) candidates.push(info);
      }
      if (this.settings.preferLocal && candidates.length > 1) {
        const local = candidates.filter((info) => this.#host.localActor(info.instance));
        if (local.length > 0) candidates = local;
      }
      if (candidates.length > 0) return policy!.pick(candidates, this.#pickContext(key));
      if (attempts !== undefined && attempts.busy > 0) {
        throw new MeshError(
          "busy",
          `Every instance of "${this.#target}" is at its in-flight limit`,
        );
      }
      const remaining = giveUpAt - clock.now();
      if (signal?.aborted) throw new MeshError("cancelled", "The request was cancelled");
      if (remaining <= 0) {
        throw new MeshError(
          "no_instances",
          `Cannot route to "${this.#target}": no live instances after ${
            Math.round(this.settings.waitMs / 100) / 10
          }s`,
        );
      }
      // Instances marked down are skipped only until their mark expires (`downMs`): wake up
      // then too, not only on a registry change. After an outage of the bus every instance may
      // be marked down at once while the registry, rightly, says nothing.
      // A long mark (an instance a probe found lost) is not waited out when it is all there is:
      // after `downMs` the instance whose mark ends first is given another try (a bus outage
      // can make every instance look lost while the registry still lists them).
      const now = clock.now();
      if (untried.length > 0) allDownSince ??= now;
      if (allDownSince !== undefined && now - allDownSince >= this.settings.downMs) {
        this.#down.clear(this.#down.firstMarked(untried)!);
        allDownSince = undefined;
        continue;
      }
      const downUntil = this.#down.firstExpiry(untried);
      const retryAt = allDownSince === undefined ? Infinity : allDownSince + this.settings.downMs;
      await this.#changedOrTimeout(Math.min(remaining, downUntil - now, retryAt - now), signal);
    }
  }

  /**
   * The common case, without waiting: a first attempt, with nothing marked down, picks from the
   * routable list. `undefined` sends the call down the general path (`#choose`).
   */
  #pickAtOnce(
    policy: RoutingPolicy | undefined,
    instanceId: string | undefined,
    key: string | undefined,
    attempts: CallAttempts | undefined,
  ): InstanceInfo | undefined {
    if (instanceId !== undefined || attempts !== undefined || !this.#down.empty) return undefined;
    const candidates = this.#routable();
    return candidates.length > 0 ? policy!.pick(candidates, this.#pickContext(key)) : undefined;
  }

  /**
   * The instances a first attempt may go to: live, not draining, and those in this process only
   * when there are some (`preferLocal`). Worked out again only when the view's list changes (the
   * view replaces its array on every change).
   */
  #routable(): readonly InstanceInfo[] {
    const list = this.#view.instances;
    if (list !== this.#routableOf) {
      this.#routableOf = list;
      const live = list.filter((info) => info.meta?.draining !== true);
      const local = this.settings.preferLocal && live.length > 1
        ? live.filter((info) => this.#host.localActor(info.instance))
        : [];
      this.#routableList = local.length > 0 ? local : live;
    }
    return this.#routableList;
  }

  #pickContext(key: string | undefined) {
    return { inflight: this.#inflightOf, key };
  }

  #inflightOf = (instance: string) => this.#inflight.get(instance)?.n ?? 0;

  async #changedOrTimeout(ms: number, signal?: AbortSignal): Promise<void> {
    const clock = this.#host.clock;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = Number.isFinite(ms) ? clock.setTimeout(() => stop.abort(), ms) : undefined;
    try {
      await this.#view.changed(stop.signal);
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }
}

/** The calls in flight to one instance; `gone` once the instance left the view. */
interface _InflightCount {
  n: number;
  gone: boolean;
}

/** A stream that fails with `error` when read (calls fail on iteration, never when made). */
// deno-lint-ignore require-yield
async function* _failing(error: Error): AsyncGenerator<unknown> {
  throw error;
}
