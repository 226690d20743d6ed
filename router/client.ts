/**
 * The client to one `namespace/Component/endpoint`: it keeps a live view of the instances, picks
 * one by policy, sends the request to its mailbox and streams the reply frames back as chunks.
 *
 * A request that no instance took (nobody subscribed, or no first frame in time) marks that
 * instance down until its next registry update and is tried on another (bounded attempts). A
 * call to a component with an instance in this process goes to it directly (`preferLocal`).
 *
 * @module
 */

import type { Actor } from "../actors/actor.ts";
import type { Bus } from "../planes/bus.ts";
import type { Clock } from "../utils/clock.ts";
import { MeshError } from "../protocol/errors.ts";
import type { Logger } from "../utils/logger.ts";
import {
  controlSubject,
  type EndpointAddress,
  formatAddress,
  queueSubject,
} from "../protocol/names.ts";
import { CANCEL, decodeJson, encodeJson, H, requestHeaders } from "../protocol/wire.ts";
import type { InstanceInfo, InstanceView } from "./instance_view.ts";
import { canonicalPolicyName, createPolicy, QueuePolicy, type RoutingPolicy } from "./policies.ts";
import { NotDeliveredError } from "../protocol/not_delivered_error.ts";
import type { ReplyInbox } from "./reply_inbox.ts";

/**
 * Options for one call. A handler's request context fits as it is (`client.generate(req, ctx)`):
 * the call then shares the request's id, deadline and cancellation.
 */
export interface CallOptions {
  /** Carried across hops and in logs. Default: a fresh random id. */
  requestId?: string;
  /** Unix ms. Default: now + the client's `timeoutMs`. */
  deadline?: number;
  /** Cancels the call (the instance's handler sees its own signal abort). */
  signal?: AbortSignal;
  /** Overrides the client's policy for this call. */
  policy?: string;
  /** Sends to this instance only (what `direct()` does). */
  directTo?: string;
  /** W3C trace context to pass along. */
  traceparent?: string;
  /** The routing key for `consistent_hash`. Default: the request's `hashKey` field. */
  key?: string;
}

/** What one call has learnt about the instances so far. */
interface Route {
  /** Instances this call has tried. */
  tried: Set<string>;
  /** How many answered `busy`. */
  busy: number;
}

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
}

/** What a client needs from the runtime that owns it. */
export interface ClientHost {
  readonly bus: Bus;
  readonly clock: Clock;
  readonly log: Logger;
  readonly inbox: ReplyInbox;
  /** The actor with this id when it runs in this process. */
  localActor(instance: string): Actor | undefined;
}

/** Options for {@linkcode EndpointClient.waitForInstances}. */
export interface WaitOptions {
  /** Give up after this long (`no_instances`). Default: wait until `signal` aborts. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** What the log lines call the instances. Default `workers`. */
  noun?: string;
}

function randomId(): string {
  return crypto.randomUUID();
}

/** A client to one endpoint of a component. */
export class EndpointClient {
  readonly address: EndpointAddress;
  readonly settings: Required<ClientSettings>;
  #host: ClientHost;
  #view: InstanceView;
  #policies = new Map<string, RoutingPolicy>();
  /** Instances that did not take a request: skipped until their next registry update, or until the time given (an outage of the bus sends no registry update). */
  #down = new Map<string, number>();
  #inflight = new Map<string, number>();
  #offView: () => void;

  constructor(
    host: ClientHost,
    address: EndpointAddress,
    view: InstanceView,
    settings: ClientSettings = {},
  ) {
    this.#host = host;
    this.address = address;
    this.#view = view;
    this.settings = {
      policy: canonicalPolicyName(settings.policy ?? "round_robin"),
      preferLocal: settings.preferLocal ?? true,
      maxAttempts: settings.maxAttempts ?? 3,
      waitMs: settings.waitMs ?? 5000,
      timeoutMs: settings.timeoutMs ?? 60_000,
      hashKey: settings.hashKey ?? "session_id",
      downMs: settings.downMs ?? 2000,
      migrationLimit: settings.migrationLimit ?? 2,
    };
    this.#policy(this.settings.policy); // validates the name now, not on the first call
    this.#offView = view.onChange((change) => {
      this.#down.delete(change.instance);
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
   * `Waiting for more workers to be ready. Current: X, Required: Y` each time the count changes.
   * Resolves with their ids.
   */
  async waitForInstances(count: number, options: WaitOptions = {}): Promise<string[]> {
    const { clock, log } = this.#host;
    const noun = options.noun ?? "workers";
    const giveUpAt = options.timeoutMs === undefined ? Infinity : clock.now() + options.timeoutMs;
    let logged = -1;
    for (;;) {
      const current = this.#view.instances.length;
      if (current >= count) break;
      if (current !== logged) {
        log.info(
          `Waiting for more ${noun} to be ready. Current: ${current}, Required: ${count}`,
          { target: formatAddress(this.address) },
        );
        logged = current;
      }
      if (options.signal?.aborted) throw new MeshError("cancelled", "Stopped waiting");
      const remaining = giveUpAt - clock.now();
      if (remaining <= 0) {
        throw new MeshError(
          "no_instances",
          `Cannot route to "${
            formatAddress(this.address)
          }": ${current} of ${count} instances live after ${options.timeoutMs} ms`,
        );
      }
      await this.#changedOrTimeout(remaining, options.signal);
    }
    const ids = this.instanceIds();
    log.info(`${noun[0]!.toUpperCase()}${noun.slice(1)} are all ready: [${ids.join(", ")}]`, {
      target: formatAddress(this.address),
    });
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
  }

  #policy(name: string): RoutingPolicy {
    const canonical = canonicalPolicyName(name);
    let policy = this.#policies.get(canonical);
    if (!policy) {
      policy = createPolicy(canonical);
      this.#policies.set(canonical, policy);
    }
    return policy;
  }

  async *#call(request: unknown, options: CallOptions): AsyncGenerator<unknown> {
    const clock = this.#host.clock;
    const deadline = options.deadline ?? clock.now() + this.settings.timeoutMs;
    const requestId = options.requestId ?? randomId();
    const { signal, directTo: instanceId } = options;
    const policy = instanceId ? undefined : this.#policy(options.policy ?? this.settings.policy);
    const key = options.key ?? this.#keyOf(request);
    const route: Route = { tried: new Set(), busy: 0 };
    let body: Uint8Array | undefined;
    let undelivered = 0;
    let delivered = 0;
    let migrations = 0;

    for (let attempt = 1;; attempt++) {
      if (signal?.aborted) throw new MeshError("cancelled", "The request was cancelled");
      if (deadline <= clock.now()) {
        throw new MeshError("deadline_exceeded", "The request deadline passed");
      }
      const picked = await this.#choose(policy, instanceId, key, route, deadline, signal);
      const queue = policy instanceof QueuePolicy;
      const target = queue ? undefined : picked;
      const local = target && this.settings.preferLocal
        ? this.#host.localActor(target.instance)
        : undefined;
      let started = false;
      // In flight from this client, by either path: least_loaded and power_of_two read it.
      if (target) {
        this.#inflight.set(target.instance, (this.#inflight.get(target.instance) ?? 0) + 1);
      }
      try {
        const call = { requestId, deadline, attempt, signal, resumeFrom: delivered };
        const chunks = local?.running
          ? local.dispatchLocal(this.address.endpoint, request, call)
          : this.#remote(target, body ??= encodeJson(request), call, options.traceparent);
        for await (const chunk of chunks) {
          started = true;
          delivered++;
          yield chunk;
        }
        return;
      } catch (error) {
        if (
          error instanceof MeshError && error.code === "instance_lost" && target &&
          instanceId === undefined && target.meta?.resumable === true &&
          migrations < this.settings.migrationLimit
        ) {
          migrations++;
          route.tried.add(target.instance);
          this.#host.log.info("Instance lost mid-stream; resuming on another instance", {
            request_id: requestId,
            instance: target.instance,
            resume_from: delivered,
            migration: migrations,
          });
          continue;
        }
        if (started || instanceId !== undefined && !(error instanceof NotDeliveredError)) {
          throw error;
        }
        if (error instanceof MeshError && error.code === "busy") {
          if (target) route.tried.add(target.instance);
          route.busy++;
          if (!queue || route.busy < this.settings.maxAttempts) continue;
          throw error;
        }
        if (!(error instanceof NotDeliveredError)) throw error;
        if (target) {
          route.tried.add(target.instance);
          if (!local) {
            this.#down.set(target.instance, this.#host.clock.now() + this.settings.downMs);
          }
        }
        this.#host.log.debug("No instance took the request; trying another", {
          request_id: requestId,
          instance: target?.instance ?? "(queue)",
          reason: error.reason,
        });
        if (++undelivered < this.settings.maxAttempts && instanceId === undefined) continue;
        throw new MeshError(
          "no_instances",
          `Cannot route to "${
            formatAddress(this.address)
          }": no instance took the request after ${attempt} attempts`,
          { cause: error },
        );
      } finally {
        if (target) {
          const count = (this.#inflight.get(target.instance) ?? 1) - 1;
          if (count > 0) this.#inflight.set(target.instance, count);
          else this.#inflight.delete(target.instance);
        }
      }
    }
  }

  /** One attempt over the bus: to an instance's mailbox, or to the queue group. */
  async *#remote(
    target: InstanceInfo | undefined,
    body: Uint8Array,
    call: {
      requestId: string;
      deadline: number;
      attempt: number;
      resumeFrom: number;
      signal?: AbortSignal;
    },
    traceparent: string | undefined,
  ): AsyncGenerator<unknown> {
    const { bus, inbox } = this.#host;
    const pending = inbox.open(call.deadline, target?.instance);
    const onAbort = () => pending.fail(new MeshError("cancelled", "The request was cancelled"));
    call.signal?.addEventListener("abort", onAbort, { once: true });
    let finished = false;
    try {
      bus.publish(target?.subject ?? queueSubject(this.address), body, {
        reply: pending.subject,
        headers: requestHeaders(
          call.requestId,
          call.deadline,
          call.attempt,
          traceparent,
          call.resumeFrom,
        ),
      });
      for (;;) {
        const frame = await pending.next();
        switch (frame.kind) {
          case "ack":
          case "heartbeat":
            continue;
          case "data":
            yield decodeJson(frame.data);
            continue;
          case "final":
            finished = true;
            yield decodeJson(frame.data);
            return;
          case "end":
            finished = true;
            return;
          case "error":
            finished = true;
            throw MeshError.fromBody(decodeJson(frame.data));
        }
      }
    } catch (error) {
      if (error instanceof NotDeliveredError) finished = true;
      throw error;
    } finally {
      call.signal?.removeEventListener("abort", onAbort);
      pending.close();
      if (!finished && pending.instance) this.#cancel(pending.instance, call.requestId);
    }
  }

  #isDown(instance: string): boolean {
    const until = this.#down.get(instance);
    if (until === undefined) return false;
    if (until > this.#host.clock.now()) return true;
    this.#down.delete(instance);
    return false;
  }

  /** The routing key of a request: its `hashKey` field (default `session_id`), when present. */
  #keyOf(request: unknown): string | undefined {
    if (!request || typeof request !== "object") return undefined;
    const value = (request as Record<string, unknown>)[this.settings.hashKey];
    return typeof value === "string" || typeof value === "number" ? String(value) : undefined;
  }

  /** Tells the instance to stop working on a request nobody will read. */
  #cancel(instance: string, requestId: string): void {
    try {
      this.#host.bus.publish(
        controlSubject(this.address.namespace, this.address.component, instance),
        new Uint8Array(0),
        { headers: { [H.requestId]: requestId, [H.kind]: CANCEL } },
      );
    } catch {
      // The bus is closed: the instance's deadline will stop the work.
    }
  }

  async #choose(
    policy: RoutingPolicy | undefined,
    instanceId: string | undefined,
    key: string | undefined,
    route: Route,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<InstanceInfo> {
    const clock = this.#host.clock;
    const giveUpAt = Math.min(deadline, clock.now() + this.settings.waitMs);
    for (;;) {
      if (instanceId !== undefined) {
        const info = this.#view.get(instanceId);
        if (info) return info;
        throw new MeshError(
          "not_found",
          `No live instance "${instanceId}" of "${formatAddress(this.address)}"; live instances: ${
            this.instanceIds().join(", ") || "none"
          }`,
        );
      }
      const untried = this.#view.instances.filter((info) =>
        !route.tried.has(info.instance) && info.meta?.draining !== true
      );
      let candidates = untried.filter((info) => !this.#isDown(info.instance));
      if (this.settings.preferLocal && candidates.length > 1) {
        const local = candidates.filter((info) => this.#host.localActor(info.instance));
        if (local.length > 0) candidates = local;
      }
      if (candidates.length > 0) {
        return policy!.pick(candidates, {
          inflight: (instance) => this.#inflight.get(instance) ?? 0,
          key,
        });
      }
      if (route.busy > 0) {
        throw new MeshError(
          "busy",
          `Every instance of "${formatAddress(this.address)}" is at its in-flight limit`,
        );
      }
      const remaining = giveUpAt - clock.now();
      if (signal?.aborted) throw new MeshError("cancelled", "The request was cancelled");
      if (remaining <= 0) {
        throw new MeshError(
          "no_instances",
          `Cannot route to "${formatAddress(this.address)}": no live instances after ${
            Math.round(this.settings.waitMs / 100) / 10
          }s`,
        );
      }
      // Instances marked down are skipped only until their mark expires (`downMs`): wake up
      // then too, not only on a registry change. After an outage of the bus every instance may
      // be marked down at once while the registry, rightly, says nothing.
      let downUntil = Infinity;
      for (const info of untried) {
        downUntil = Math.min(downUntil, this.#down.get(info.instance) ?? Infinity);
      }
      await this.#changedOrTimeout(Math.min(remaining, downUntil - clock.now()), signal);
    }
  }

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
