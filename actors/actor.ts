/**
 * An actor: one running instance of a component, and its lifecycle. It owns a mailbox subject
 * per endpoint (and joins the component's queue group), a control subject for cancels, and a
 * registry key per endpoint. Requests over the bus go through the reply loop
 * (`reply_loop.ts`); requests from the same process come in through `dispatchLocal`. An instance
 * with {@linkcode QueueServing} also pulls requests from each endpoint's durable work queue
 * (`queue_serving.ts`) and registers `meta.queue: true`.
 *
 * @module
 */

import type { Bus, BusMessage, BusSubscription } from "../planes/bus.ts";
import { type Clock, systemClock, type TimerId } from "../utils/clock.ts";
import type { Ticker } from "../utils/ticker.ts";
import type { Logger } from "../utils/logger.ts";
import type { QueueConsumer, QueueHandle, QueueOptions } from "../planes/work_queue.ts";
import type {
  AnyComponent,
  ClientOptions,
  EndpointHandler,
  Endpoints,
  RuntimeHandle,
} from "./component.ts";
import type { ComponentClient } from "./caller.ts";
import type { Registration } from "./registration.ts";
import type { ChildExit } from "./supervisor.ts";
import { chunksOf } from "./handler_result.ts";
import { type Inflight, InflightRequests } from "./inflight.ts";
import { type InstanceCounter, InstanceStats } from "./endpoint_stats.ts";
import { publishFrame, type ReplyLoopHost, serveOverBus } from "./reply_loop.ts";
import { consumeQueue, type QueueServing } from "./queue_serving.ts";
import {
  type ContextSource,
  type DataSource,
  type RequestCall,
  requestContext,
} from "./request_context.ts";
import { MeshError } from "../protocol/errors.ts";
import type { LocalCall } from "../protocol/call_options.ts";
import {
  controlSubject,
  type EndpointAddress,
  mailboxSubject,
  queueGroup,
  queueSubject,
} from "../protocol/names.ts";
import { CANCEL, decodeRequest, H, PROBE } from "../protocol/wire.ts";
import { NotDeliveredError } from "../protocol/not_delivered_error.ts";
import type { SharedQueue } from "./shared_queue.ts";
import { countedQueue } from "./counted_queue.ts";
import { InstanceRecords } from "./instance_records.ts";

/** What an actor needs from the runtime that hosts it. */
export interface ActorHost {
  readonly bus: Bus;
  /** Keeps the actor's registry keys registered (the runtime's lease keeper). */
  readonly registration: Registration;
  readonly clock: Clock;
  readonly log: Logger;
  readonly hostname: string;
  readonly namespace: string;
  readonly pid: number;
  readonly version: string;
  /** Idle time after which a long request gets a heartbeat frame. */
  readonly heartbeatMs: number;
  /** The one ticker that checks deadlines and heartbeats for the runtime's actors. */
  readonly ticker?: Ticker;
  /** The seeds' fluent runtime handle, for start hooks. */
  readonly handle: RuntimeHandle;
  /** A client to another component (shared per target and options). */
  client(target: string | AnyComponent, options?: ClientOptions): ComponentClient;
  /** The durable work queue of an endpoint (for instances with {@linkcode QueueServing}). */
  workQueue?(address: EndpointAddress, options: QueueOptions): Promise<QueueHandle>;
  /** The process's data plane, for `ctx.data` (made on first use). */
  readonly data?: DataSource;
  /** The namespace's shared queues, for `ctx.queue(name)` in start hooks. */
  queue?(name: string): SharedQueue;
  /** Hears of each counter an instance makes (`StartContext.counter`), to export it. */
  onCounter?(counter: InstanceCounter): void;
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
  /** The control subscription (cancels, probes): kept while a graceful stop drains. */
  #control: BusSubscription | undefined;
  #consumers: QueueConsumer[] = [];
  #records: InstanceRecords;
  #takenQueues = new Set<string>();
  #inflight: InflightRequests;
  #stopping = new AbortController();
  #state: "new" | "starting" | "running" | "stopping" | "stopped" = "new";
  /** A graceful stop is under way: requests still delivered to the mailbox are served. */
  #draining = false;
  #exit!: (exit: ChildExit) => void;
  /**
   * Settles when the instance fails by itself (its mailbox subscription ended, or `fail()` was
   * called); a supervisor then starts a fresh instance. A graceful `stop()` does not settle it.
   */
  readonly exited: Promise<ChildExit> = new Promise((resolve) => (this.#exit = resolve));
  #dropped = 0;
  #contextSource: ContextSource;
  #replyHost: ReplyLoopHost;

  /** Requests served at once before new ones are answered `busy`; 0 means no limit. */
  readonly maxInflight: number;
  /** How the instance serves from the work queue too; undefined: it does not. */
  readonly queue: QueueServing | undefined;
  /** What the instance has served, per endpoint, and its counters (`StartContext.counter`). */
  readonly endpointStats: InstanceStats;

  constructor(
    host: ActorHost,
    definition: AnyComponent,
    config: Record<string, unknown>,
    id: string,
    maxInflight = 0,
    queue?: QueueServing,
  ) {
    this.#host = host;
    this.definition = definition;
    this.config = config;
    this.id = id;
    this.maxInflight = maxInflight;
    this.queue = queue;
    const log = host.log.child({ component: definition.name, instance: id });
    this.#log = log;
    this.#records = new InstanceRecords(host.registration, log);
    const clock = host.clock;
    this.endpointStats = new InstanceStats(
      clock === systemClock ? () => performance.now() : () => clock.now(),
      clock.now(),
      host.onCounter ? (counter) => host.onCounter!(counter) : undefined,
    );
    this.#inflight = new InflightRequests(
      host.clock,
      host.heartbeatMs,
      (request) => publishFrame(host.bus, id, request, "heartbeat"),
      (error, requestId) => log.debug("Heartbeat not sent", { request_id: requestId, error }),
      host.ticker,
    );
    this.#contextSource = {
      definition,
      config,
      instanceId: id,
      hostname: host.hostname,
      log,
      client: (target, options) => host.client(target, options),
      data: host.data,
    };
    this.#replyHost = {
      bus: host.bus,
      clock: host.clock,
      log,
      instanceId: id,
      inflight: this.#inflight,
      stats: this.endpointStats,
      busy: () => this.#atLimit() ? this.#busy() : undefined,
      accepting: () => this.#state === "running" || (this.#state === "stopping" && this.#draining),
      handle: (endpoint, request, call) => this.#handle(endpoint, request, call),
    };
  }

  /** The shared queues this actor takes items from (counted like endpoints, by queue name). */
  get takenQueues(): string[] {
    return [...this.#takenQueues];
  }

  /** The endpoint names this actor serves. */
  get endpointNames(): string[] {
    return [...this.#endpoints.keys()];
  }

  /** Whether the actor takes requests. */
  get running(): boolean {
    return this.#state === "running";
  }

  /** Requests being served now, and shared-queue items held (taken, not yet done). */
  get inflightCount(): number {
    let held = 0;
    for (const name of this.#takenQueues) held += this.endpointStats.endpoint(name).inflight;
    return this.#inflight.size + held;
  }

  /** The instance's counters by name (`StartContext.counter`). */
  get counters(): ReadonlyMap<string, InstanceCounter> {
    return this.endpointStats.counters;
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
    const deps: Record<string, ComponentClient> = {};
    for (const [key, dep] of Object.entries<AnyComponent>(this.definition.depends ?? {})) {
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
        counter: (name, help) => this.endpointStats.counter(name, help),
        done: () => void this.finish(),
        queue: <T>(name: string) => {
          if (!host.queue) throw new Error("This runtime has no shared queues");
          return countedQueue(
            host.queue(name) as SharedQueue<T>,
            () => this.endpointStats.endpoint(name),
            () => this.#takenQueues.add(name),
          );
        },
        signal: this.#stopping.signal,
      })
      : this.definition.endpoints!;
    if (this.#stopping.signal.aborted) return;
    for (const [name, handler] of Object.entries(endpoints)) this.#endpoints.set(name, handler);
    if (this.#endpoints.size === 0) {
      throw new TypeError(`Component "${this.definition.name}" has no endpoints`);
    }
    await this.#subscribe();
    if (this.#state !== "starting") throw new Error(`Instance ${this.id} failed while starting`);
    this.#state = "running";
    if (this.queue) await this.#consume(this.queue);
    for (const endpoint of this.#endpoints.keys()) await this.#register(endpoint);
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
    if (wasRunning) await this.#records.markDraining();
    await this.#records.deregisterAll();
    this.#unsubscribe();
    await this.#stopConsuming();
    // The control subject stays while the drain lasts: callers may still cancel, and probes
    // of requests being finished here are answered (a silent one would count as lost).
    if (this.#inflight.size > 0) {
      this.#log.info("Draining in-flight requests", { inflight: this.#inflight.size, graceMs });
      let timer: TimerId | undefined;
      const late = new Promise<void>((resolve) => {
        timer = this.#host.clock.setTimeout(resolve, graceMs);
      });
      await Promise.race([this.#inflight.drained(), late]);
      this.#host.clock.clearTimeout(timer!);
      this.#inflight.abortAll(() =>
        new MeshError("instance_lost", "The instance stopped before the request finished")
      );
    }
    this.#unsubscribeControl();
    this.#inflight.stopTimer();
    if (wasRunning) await this.definition.stop?.();
    this.#state = "stopped";
    this.#log.info("Instance stopped");
  }

  /**
   * Ends the instance by itself, as done (`ctx.done()`): it stops gracefully like `stop`, then
   * `exited` settles as normal, so a `transient` or `temporary` child is not restarted.
   */
  async finish(graceMs = 10_000): Promise<void> {
    if (this.#state !== "running" && this.#state !== "starting") return;
    this.#log.info("Instance done");
    await this.stop(graceMs);
    this.#exit({ normal: true });
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
    this.#unsubscribe();
    this.#unsubscribeControl();
    const consuming = this.#stopConsuming();
    this.#inflight.abortAll(() => new MeshError("instance_lost", "The instance failed"));
    void (async () => {
      await consuming;
      await this.#records.deregisterAll(true);
      this.#inflight.stopTimer();
      this.#state = "stopped";
      this.#exit({ normal: false, error });
    })();
  }

  /**
   * Serves a request from a caller in the same process (no bus hop): same deadline, cancel and
   * streaming semantics, no encoding. The request object is handed over as is. The handler's
   * own iterator comes back behind a thin wrapper that ends the request's tracking when the
   * stream ends, fails or is returned early: no generator of its own per call.
   */
  dispatchLocal(endpoint: string, request: unknown, call: LocalCall): AsyncIterable<unknown> {
    if (!this.#endpoints.has(endpoint) || this.#state !== "running") {
      throw new NotDeliveredError("instance_gone", this.id);
    }
    const stats = this.endpointStats.endpoint(endpoint);
    if (this.#atLimit()) {
      const busy = this.#busy();
      stats.refuse(busy.message);
      throw busy;
    }
    const startedAt = stats.start();
    const inflight = this.#inflight.track(call.requestId, call.deadline);
    const callerSignal = call.signal;
    const onAbort = () => inflight.controller.abort(callerSignal!.reason);
    callerSignal?.addEventListener("abort", onAbort, { once: true });
    if (callerSignal?.aborted) onAbort();
    let ended = false;
    const end = (error?: unknown) => {
      if (ended) return;
      ended = true;
      callerSignal?.removeEventListener("abort", onAbort);
      this.#inflight.untrack(inflight);
      stats.finish(startedAt, error === undefined ? undefined : _failure(error, inflight));
    };
    let chunks: AsyncIterator<unknown>;
    try {
      chunks = chunksOf(this.#handle(endpoint, request, {
        requestId: call.requestId,
        deadline: call.deadline,
        attempt: call.attempt,
        resumeFrom: call.resumeFrom ?? 0,
        signal: inflight.controller.signal,
      }))[Symbol.asyncIterator]();
    } catch (error) {
      end(error);
      throw error;
    }
    const settle = (step: IteratorResult<unknown>) => {
      if (step.done) end();
      return step;
    };
    const fail = (error: unknown): never => {
      end(error);
      throw error;
    };
    const iterator: AsyncIterableIterator<unknown> = {
      [Symbol.asyncIterator]: () => iterator,
      next: () => chunks.next().then(settle, fail),
      return: (value?: unknown) => {
        const returned = chunks.return?.(value) ?? Promise.resolve({ done: true, value });
        return Promise.resolve(returned).then((step) => (end(), step), fail);
      },
    };
    return iterator;
  }

  /** Subscribes the mailbox and queue subject of every endpoint, and the control subject. */
  async #subscribe(): Promise<void> {
    const { bus, namespace } = this.#host;
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
    this.#control = bus.subscribe(
      controlSubject(namespace, this.definition.name, this.id),
      (message) => this.#onControl(message),
      { onEnd },
    );
    await bus.flush();
  }

  /** Unsubscribes the mailboxes and queue subjects (not the control subject). */
  #unsubscribe(): void {
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    this.#subscriptions = [];
  }

  #unsubscribeControl(): void {
    this.#control?.unsubscribe();
    this.#control = undefined;
  }

  /** Starts pulling the work queue of every endpoint (`ServiceArgs.queue`). */
  async #consume(serving: QueueServing): Promise<void> {
    const open = this.#host.workQueue;
    if (!open) throw new TypeError("Serving from the work queue needs a runtime with one");
    for (const endpoint of this.#endpoints.keys()) {
      const handle = await open(this.address(endpoint), {
        maxDeliver: serving.maxDeliver,
        ackWaitMs: serving.ackWaitMs,
      });
      if (this.#state !== "running") return;
      this.#consumers.push(consumeQueue(this.#replyHost, endpoint, handle, serving));
    }
  }

  /** Stops pulling jobs; those being served stay this instance's to settle. */
  async #stopConsuming(): Promise<void> {
    const consumers = this.#consumers;
    this.#consumers = [];
    await Promise.all(
      consumers.map((consumer) =>
        consumer.stop().catch((error) =>
          this.#log.warn("Could not stop pulling the work queue", { error })
        )
      ),
    );
  }

  /** Registers one endpoint's instance record (DESIGN.md §3). */
  async #register(endpoint: string): Promise<void> {
    const host = this.#host;
    const address = this.address(endpoint);
    await this.#records.register(address, {
      namespace: address.namespace,
      component: address.component,
      endpoint,
      instance: this.id,
      subject: mailboxSubject(address, this.id),
      hostname: host.hostname,
      pid: host.pid,
      startedAt: new Date(host.clock.now()).toISOString(),
      version: host.version,
      meta: {
        ...(this.definition.resumable ? { resumable: true } : {}),
        ...(this.queue ? { queue: true } : {}),
      },
    });
  }

  #handle(endpoint: string, request: unknown, call: RequestCall): unknown {
    const handler = this.#endpoints.get(endpoint)!;
    return handler(request, requestContext(this.#contextSource, call));
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
    void serveOverBus(this.#replyHost, endpoint, envelope);
  }

  /**
   * A cancel aborts the request's handler; a probe is answered at once with an empty message,
   * from here, without the handlers: a busy instance answers as long as its event loop turns (a
   * handler that blocks the loop longer than the callers' probe timeout looks lost).
   */
  #onControl(message: BusMessage): void {
    const kind = message.headers?.[H.kind];
    if (kind === PROBE) {
      if (!message.reply) return;
      try {
        this.#host.bus.publish(message.reply, new Uint8Array(0));
      } catch {
        // the bus is closing: the caller's probe times out, as it should
      }
      return;
    }
    if (kind !== CANCEL) return;
    const requestId = message.headers?.[H.requestId];
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
}

/**
 * The error a local request ended with, as its stats count it (the message an error frame would
 * carry over the bus); `undefined` when the caller cancelled it, which is no error of the instance.
 */
function _failure(error: unknown, request: Inflight): string | undefined {
  const signal = request.controller.signal;
  if (!signal.aborted) return MeshError.from(error).message;
  const reason = signal.reason;
  return reason instanceof MeshError && reason.code !== "cancelled" ? reason.message : undefined;
}
