/**
 * An actor: one running instance of a component. It owns a mailbox subject per endpoint (and
 * joins the component's queue group), a control subject for cancels, and a registry key per
 * endpoint under the process lease. Requests become calls of the endpoint handler; the chunks it
 * yields go back as reply frames.
 *
 * @module
 */

import type { Bus, BusMessage, BusSubscription } from "../planes/bus.ts";
import type { Clock, TimerId } from "../utils/clock.ts";
import type {
  AnyComponent,
  ClientOptions,
  DependencyCaller,
  EndpointHandler,
  Endpoints,
  RequestContext,
  RuntimeHandle,
} from "./component.ts";
import { MeshError } from "../protocol/errors.ts";
import type { LeaseKeeper } from "../runtime/lease_keeper.ts";
import type { ChildExit } from "./supervisor.ts";
import type { Logger } from "../utils/logger.ts";
import {
  controlSubject,
  type EndpointAddress,
  instanceKey,
  mailboxSubject,
  queueGroup,
  queueSubject,
} from "../protocol/names.ts";
import {
  CANCEL,
  decodeJson,
  decodeRequest,
  encodeJson,
  frameHeaders,
  type FrameKind,
  H,
  type RequestEnvelope,
} from "../protocol/wire.ts";
import type { CallOptions, EndpointClient } from "../router/client.ts";
import type { InstanceInfo } from "../router/instance_view.ts";
import { NotDeliveredError } from "../protocol/not_delivered_error.ts";

/** What an actor needs from the runtime that hosts it. */
export interface ActorHost {
  readonly bus: Bus;
  readonly keeper: LeaseKeeper;
  readonly clock: Clock;
  readonly log: Logger;
  readonly hostname: string;
  readonly namespace: string;
  readonly pid: number;
  readonly version: string;
  /** Idle time after which a long request gets a heartbeat frame. */
  readonly heartbeatMs: number;
  /** The seeds' fluent runtime handle, for start hooks. */
  readonly handle: RuntimeHandle;
  /** A client to another component (shared per target and options). */
  client(target: string | AnyComponent, options?: ClientOptions): EndpointClient;
}

/** Options for calls into a local actor (the `prefer_local` path). */
export interface LocalCall {
  requestId: string;
  deadline: number;
  attempt: number;
  /** Chunks the caller already has (a resumed stream). */
  resumeFrom?: number;
  signal?: AbortSignal;
}

interface Inflight {
  controller: AbortController;
  deadline: number;
  /** Reply subject; undefined for local calls. */
  reply?: string;
  seq: number;
  lastSentAt: number;
}

const TICK_MS = 100;

/** Awaits `promise` for a few microtask turns only: `undefined` when it is not settled by then. */
async function settledSoon<T>(promise: Promise<T>): Promise<{ value: T } | undefined> {
  let outcome: { value: T } | { error: unknown } | undefined;
  promise.then((value) => (outcome = { value }), (error) => (outcome = { error }));
  for (let turn = 0; turn < 8 && !outcome; turn++) await null;
  if (outcome && "error" in outcome) throw outcome.error;
  return outcome;
}

/** Turns whatever a handler returned into an iterator of chunks. */
async function* chunksOf(result: unknown): AsyncGenerator<unknown> {
  if (result && typeof result === "object") {
    if (Symbol.asyncIterator in result) {
      return yield* result as AsyncIterable<unknown>;
    }
    if (
      Symbol.iterator in result && "next" in result && typeof result.next === "function" &&
      !Array.isArray(result)
    ) {
      return yield* result as Iterable<unknown>;
    }
  }
  const value = await result;
  if (value !== undefined) yield value;
}

/** One running instance of a component. */
export class Actor {
  readonly id: string;
  readonly definition: AnyComponent;
  readonly config: Record<string, unknown>;
  #host: ActorHost;
  #log: Logger;
  #endpoints = new Map<string, EndpointHandler>();
  #subscriptions: BusSubscription[] = [];
  #keys: string[] = [];
  #inflight = new Map<string, Inflight>();
  #timer: TimerId | undefined;
  #stopping = new AbortController();
  #state: "new" | "starting" | "running" | "stopping" | "stopped" = "new";
  #drained: (() => void) | undefined;
  /** A graceful stop is under way: requests still delivered to the mailbox are served. */
  #draining = false;
  #exit!: (exit: ChildExit) => void;
  /**
   * Settles when the instance fails by itself (its mailbox subscription ended, or `fail()` was
   * called); a supervisor then starts a fresh instance. A graceful `stop()` does not settle it.
   */
  readonly exited: Promise<ChildExit> = new Promise((resolve) => (this.#exit = resolve));
  #dropped = 0;

  /** Requests served at once before new ones are answered `busy`; 0 means no limit. */
  readonly maxInflight: number;

  constructor(
    host: ActorHost,
    definition: AnyComponent,
    config: Record<string, unknown>,
    id: string,
    maxInflight = 0,
  ) {
    this.#host = host;
    this.definition = definition;
    this.config = config;
    this.id = id;
    this.maxInflight = maxInflight;
    this.#log = host.log.child({ component: definition.name, instance: id });
  }

  /** The endpoint names this actor serves. */
  get endpointNames(): string[] {
    return [...this.#endpoints.keys()];
  }

  /** Whether the actor takes requests. */
  get running(): boolean {
    return this.#state === "running";
  }

  /** Requests being served now. */
  get inflightCount(): number {
    return this.#inflight.size;
  }

  /** Messages dropped because they were not valid request envelopes. */
  get droppedMessages(): number {
    return this.#dropped;
  }

  /** The address of one of this actor's endpoints. */
  address(endpoint: string): EndpointAddress {
    return { namespace: this.#host.namespace, component: this.definition.name, endpoint };
  }

  /**
   * Runs the start hook, subscribes the mailboxes and registers every endpoint. The instance is
   * reachable only once this resolves.
   */
  async start(): Promise<void> {
    if (this.#state !== "new") throw new Error(`Actor ${this.id} was already started`);
    this.#state = "starting";
    const host = this.#host;
    const deps: Record<string, EndpointClient> = {};
    for (
      const [key, dep] of Object.entries<AnyComponent>(
        this.definition.depends ?? {},
      )
    ) {
      deps[key] = host.client(dep);
    }
    const endpoints: Endpoints = this.definition.start
      ? await this.definition.start({
        namespace: host.namespace,
        instanceId: this.id,
        hostname: host.hostname,
        config: this.config,
        log: this.#log,
        deps,
        client: (target, options) => host.client(target, options),
        runtime: host.handle,
        fail: (error) => this.fail(error),
        signal: this.#stopping.signal,
      })
      : this.definition.endpoints!;
    if (this.#stopping.signal.aborted) return;
    for (const [name, handler] of Object.entries(endpoints)) this.#endpoints.set(name, handler);
    if (this.#endpoints.size === 0) {
      throw new TypeError(`Component "${this.definition.name}" has no endpoints`);
    }

    const { bus } = host;
    const onEnd = (error: Error) => this.fail(error);
    for (const endpoint of this.#endpoints.keys()) {
      const address = this.address(endpoint);
      const onMessage = (message: BusMessage) => this.#onRequest(endpoint, message);
      this.#subscriptions.push(
        bus.subscribe(mailboxSubject(address, this.id), onMessage, { onEnd }),
      );
      this.#subscriptions.push(
        bus.subscribe(queueSubject(address), onMessage, { queue: queueGroup(address), onEnd }),
      );
    }
    this.#subscriptions.push(
      bus.subscribe(
        controlSubject(host.namespace, this.definition.name, this.id),
        (message) => this.#onControl(message),
        { onEnd },
      ),
    );
    await bus.flush();
    if (this.#state !== "starting") throw new Error(`Instance ${this.id} failed while starting`);
    this.#state = "running";
    for (const endpoint of this.#endpoints.keys()) {
      const address = this.address(endpoint);
      const info: InstanceInfo = {
        namespace: address.namespace,
        component: address.component,
        endpoint,
        instance: this.id,
        subject: mailboxSubject(address, this.id),
        hostname: host.hostname,
        pid: host.pid,
        startedAt: new Date(host.clock.now()).toISOString(),
        version: host.version,
        meta: this.definition.resumable ? { resumable: true } : {},
      };
      const key = instanceKey(address, this.id);
      this.#keys.push(key);
      await host.keeper.register(key, JSON.stringify(info));
    }
    this.#log.info("Instance ready", { endpoints: this.endpointNames.join(",") });
  }

  /**
   * Stops gracefully: deregisters first (no new requests are routed here), lets in-flight requests
   * finish for up to `graceMs`, then cancels what is left.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#state === "stopped" || this.#state === "stopping") return;
    const wasRunning = this.#state === "running";
    this.#state = "stopping";
    this.#draining = wasRunning;
    this.#stopping.abort(new MeshError("cancelled", "The instance is stopping"));
    if (wasRunning) await this.#markDraining();
    for (const key of this.#keys) {
      await this.#host.keeper.deregister(key).catch((error) =>
        this.#log.warn("Could not deregister; the key expires with the lease", { key, error })
      );
    }
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    this.#subscriptions = [];
    if (this.#inflight.size > 0) {
      this.#log.info("Draining in-flight requests", { inflight: this.#inflight.size, graceMs });
      const drained = new Promise<void>((resolve) => (this.#drained = resolve));
      let timer: TimerId | undefined;
      const late = new Promise<void>((resolve) => {
        timer = this.#host.clock.setTimeout(resolve, graceMs);
      });
      await Promise.race([drained, late]);
      this.#host.clock.clearTimeout(timer!);
      for (const request of this.#inflight.values()) {
        request.controller.abort(
          new MeshError("instance_lost", "The instance stopped before the request finished"),
        );
      }
    }
    if (this.#timer !== undefined) this.#host.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (wasRunning) await this.definition.stop?.();
    this.#state = "stopped";
    this.#log.info("Instance stopped");
  }

  /**
   * Marks every registry record of this instance `meta.draining` before they are deleted: callers
   * stop routing here, and the deletion that follows (in the same order on every watch) does not
   * fail the requests this instance is still finishing (DESIGN.md §5: deregister, then drain).
   */
  async #markDraining(): Promise<void> {
    const keeper = this.#host.keeper;
    for (const key of this.#keys) {
      const value = keeper.keys.get(key);
      if (value === undefined) continue;
      const info = JSON.parse(value) as InstanceInfo;
      const draining: InstanceInfo = { ...info, meta: { ...info.meta, draining: true } };
      await keeper.register(key, JSON.stringify(draining)).catch((error) =>
        this.#log.warn("Could not mark the instance draining", { key, error })
      );
    }
  }

  /**
   * Fails the instance: it deregisters at once, its in-flight callers get `instance_lost`, and
   * `exited` settles so that its supervisor starts a fresh instance (under a new id). For
   * background work that cannot go on (`ctx.fail()` in a start hook); idempotent.
   */
  fail(error: unknown): void {
    if (this.#state !== "running" && this.#state !== "starting") return;
    this.#state = "stopping";
    this.#log.error("Instance failed; its supervisor decides what follows", { error });
    this.#stopping.abort(new MeshError("instance_lost", "The instance failed"));
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    this.#subscriptions = [];
    for (const request of this.#inflight.values()) {
      request.controller.abort(new MeshError("instance_lost", "The instance failed"));
    }
    void (async () => {
      for (const key of this.#keys) {
        await this.#host.keeper.deregister(key).catch(() => {
          // the key expires with the lease
        });
      }
      if (this.#timer !== undefined) this.#host.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#state = "stopped";
      this.#exit({ normal: false, error });
    })();
  }

  /**
   * Serves a request from a caller in the same process (no bus hop): same deadline, cancel and
   * streaming semantics, no encoding. The request object is handed over as is.
   */
  async *dispatchLocal(
    endpoint: string,
    request: unknown,
    call: LocalCall,
  ): AsyncGenerator<unknown> {
    const handler = this.#endpoints.get(endpoint);
    if (!handler || this.#state !== "running") {
      throw new NotDeliveredError("instance_gone", this.id);
    }
    if (this.#atLimit()) throw this.#busy();
    const request_ = this.#track(call.requestId, call.deadline);
    const onAbort = () => request_.controller.abort(call.signal!.reason);
    call.signal?.addEventListener("abort", onAbort, { once: true });
    if (call.signal?.aborted) onAbort();
    try {
      const ctx = this.#context(
        call.requestId,
        call.deadline,
        call.attempt,
        call.resumeFrom ?? 0,
        request_,
      );
      yield* chunksOf(handler(request, ctx));
    } finally {
      call.signal?.removeEventListener("abort", onAbort);
      this.#untrack(call.requestId, request_);
    }
  }

  #onRequest(endpoint: string, message: BusMessage): void {
    const envelope = decodeRequest(message);
    if (typeof envelope === "string") {
      this.#dropped++;
      if (this.#dropped === 1 || this.#dropped % 100 === 0) {
        this.#log.warn("Dropped a message that is not a request envelope", {
          reason: envelope,
          subject: message.subject,
          dropped: this.#dropped,
        });
      }
      return;
    }
    void this.#serve(endpoint, envelope);
  }

  async #serve(endpoint: string, envelope: RequestEnvelope): Promise<void> {
    const { requestId, reply } = envelope;
    const bus = this.#host.bus;
    if (this.#atLimit()) {
      try {
        bus.publish(reply, encodeJson(this.#busy().toBody()), {
          headers: frameHeaders(0, "error", this.id),
        });
      } catch {
        // the bus is closing; the caller's ack timeout covers it
      }
      return;
    }
    const request_ = this.#track(requestId, envelope.deadline, reply);
    const send = (kind: FrameKind, data?: Uint8Array) => {
      const seq = request_.seq++;
      request_.lastSentAt = this.#host.clock.now();
      try {
        bus.publish(reply, data ?? new Uint8Array(0), {
          headers: frameHeaders(seq, kind, seq === 0 ? this.id : undefined),
        });
      } catch (error) {
        request_.controller.abort(error);
      }
    };
    try {
      // While a graceful stop deregisters, the mailbox still delivers what callers sent before
      // they saw it go: that is served (the drain waits for it), not refused.
      if (this.#state !== "running" && !(this.#state === "stopping" && this.#draining)) {
        throw new MeshError("no_instances", `Instance "${this.id}" is stopping`);
      }
      if (envelope.deadline <= this.#host.clock.now()) {
        throw new MeshError("deadline_exceeded", "The request deadline had already passed");
      }
      const handler = this.#endpoints.get(endpoint)!;
      const ctx = this.#context(
        requestId,
        envelope.deadline,
        envelope.attempt,
        envelope.resumeFrom,
        request_,
      );
      const chunks = chunksOf(handler(decodeJson(envelope.data), ctx));
      let next = chunks.next();
      let step = await settledSoon(next);
      if (!step) {
        send("ack");
        step = { value: await next };
      }
      while (!step.value.done) {
        const chunk = encodeJson(step.value.value);
        next = chunks.next();
        const after = await settledSoon(next);
        if (after?.value.done) {
          send("final", chunk);
          return;
        }
        send("data", chunk);
        step = after ?? { value: await next };
      }
      send("end");
    } catch (error) {
      const reason = request_.controller.signal.reason;
      if (request_.controller.signal.aborted && reason instanceof MeshError) {
        if (reason.code !== "cancelled") send("error", encodeJson(reason.toBody()));
      } else {
        const meshError = MeshError.from(error);
        if (meshError.code === "internal") {
          this.#log.error("Handler failed", { request_id: requestId, endpoint, error });
        }
        send("error", encodeJson(meshError.toBody()));
      }
    } finally {
      this.#untrack(requestId, request_);
    }
  }

  #onControl(message: BusMessage): void {
    if (message.headers?.[H.kind] !== CANCEL) return;
    const requestId = message.headers[H.requestId];
    const request = requestId ? this.#inflight.get(requestId) : undefined;
    if (!request) return;
    this.#log.debug("Request cancelled by the caller", { request_id: requestId });
    request.controller.abort(new MeshError("cancelled", "The caller cancelled the request"));
  }

  #atLimit(): boolean {
    return this.maxInflight > 0 && this.#inflight.size >= this.maxInflight;
  }

  #busy(): MeshError {
    return new MeshError(
      "busy",
      `Instance "${this.id}" is serving ${this.#inflight.size} requests, its limit`,
    );
  }

  #track(requestId: string, deadline: number, reply?: string): Inflight {
    const request: Inflight = {
      controller: new AbortController(),
      deadline,
      reply,
      seq: 0,
      lastSentAt: this.#host.clock.now(),
    };
    // A retried request may arrive again under the same id: the newest one wins the slot.
    this.#inflight.set(requestId, request);
    if (this.#timer === undefined) this.#arm();
    return request;
  }

  #untrack(requestId: string, request: Inflight): void {
    if (this.#inflight.get(requestId) === request) this.#inflight.delete(requestId);
    if (this.#inflight.size === 0) this.#drained?.();
  }

  #arm(): void {
    this.#timer = this.#host.clock.setTimeout(() => this.#tick(), TICK_MS);
  }

  /** Enforces deadlines and sends heartbeats on quiet streams: one timer for all requests. */
  #tick(): void {
    this.#timer = undefined;
    const now = this.#host.clock.now();
    for (const [requestId, request] of this.#inflight) {
      if (now >= request.deadline && !request.controller.signal.aborted) {
        request.controller.abort(
          new MeshError("deadline_exceeded", "The request deadline passed"),
        );
      } else if (request.reply && now - request.lastSentAt >= this.#host.heartbeatMs) {
        request.lastSentAt = now;
        const seq = request.seq++;
        try {
          this.#host.bus.publish(request.reply, new Uint8Array(0), {
            headers: frameHeaders(seq, "heartbeat", seq === 0 ? this.id : undefined),
          });
        } catch (error) {
          this.#log.debug("Heartbeat not sent", { request_id: requestId, error });
        }
      }
    }
    if (this.#inflight.size > 0) this.#arm();
  }

  #context(
    requestId: string,
    deadline: number,
    attempt: number,
    resumeFrom: number,
    request: Inflight,
  ): RequestContext<Record<string, unknown>> {
    const host = this.#host;
    const definition = this.definition;
    const signal = request.controller.signal;
    let deps: Record<string, DependencyCaller> | undefined;
    let log: Logger | undefined;
    const actorLog = this.#log;
    return {
      requestId,
      deadline,
      signal,
      attempt,
      resumeFrom,
      instanceId: this.id,
      hostname: host.hostname,
      config: this.config,
      get log() {
        return (log ??= actorLog.child({ request_id: requestId }));
      },
      get deps() {
        if (deps) return deps;
        deps = {};
        const bound = (options?: CallOptions): CallOptions => ({
          requestId,
          deadline,
          signal,
          ...options,
        });
        for (
          const [key, dep] of Object.entries<AnyComponent>(
            definition.depends ?? {},
          )
        ) {
          const client = host.client(dep);
          deps[key] = {
            generate: (req, options) => client.generate(req, bound(options)),
            call: (endpoint, req, options) =>
              host.client(dep, { endpoint }).generate(req, bound(options)),
          };
        }
        return deps;
      },
    };
  }
}
