/**
 * The runtime of one process: its planes (bus, registry, work queue, data plane), its lease, the
 * actors it hosts and the clients they call through. The seeds' `DistributedRuntime`.
 *
 * @example
 * ```ts ignore
 * const runtime = new Runtime({ bus: new MemoryBus(), registry: new MemoryRegistry(), namespace: "demo" });
 * await runtime.serve(Worker, { config: {}, instances: 2 });
 * for await (const chunk of runtime.client("Worker").generate({ prompt: "hi" })) console.log(chunk);
 * await runtime.shutdown();
 * ```
 *
 * @module
 */

import { Ticker } from "../utils/ticker.ts";
import { Actor, type ActorHost } from "../actors/actor.ts";
import type { Bus } from "../planes/bus.ts";
import { type Clock, systemClock } from "../utils/clock.ts";
import type { AnyComponent, ClientOptions, RuntimeHandle } from "../actors/component.ts";
import { LeaseKeeper } from "./lease_keeper.ts";
import { backoffDelay, type BackoffOptions } from "../utils/backoff.ts";
import { type ChildSpec, type RestartType, Supervisor } from "../actors/supervisor.ts";
import { type Logger, silentLogger } from "../utils/logger.ts";
import {
  DEFAULT_ENDPOINT,
  type EndpointAddress,
  instancePrefix,
  newInstanceId,
  parseAddress,
  validateName,
} from "../protocol/names.ts";
import type { Registry } from "../planes/registry.ts";
import { type ClientSettings, EndpointClient } from "../router/client.ts";
import { InstanceView } from "../router/instance_view.ts";
import { type Random, systemRandom } from "../utils/random.ts";
import { ReplyInbox } from "../router/reply_inbox.ts";
import type { QueueHandle, QueueOptions, WorkQueue } from "../planes/work_queue.ts";
import { WorkQueues } from "./work_queues.ts";
import type { QueueServing } from "../actors/queue_serving.ts";
import type { DataSource } from "../actors/request_context.ts";
import { type DataPlane, DEFAULT_DATA_THRESHOLD } from "../planes/data_plane.ts";
import { MemoryDataPlane } from "../planes/memory/memory_data_plane.ts";
import { ServiceResponder } from "./service_discovery.ts";
import type { InstanceCounter } from "../actors/endpoint_stats.ts";
import type { SharedQueue } from "../actors/shared_queue.ts";
import { SharedQueueSet } from "./shared_queues.ts";

/** The version every instance registers. */
export const MESHWORK_VERSION = "0.1.0";

/** Options for {@linkcode Runtime}. */
export interface RuntimeOptions {
  bus: Bus;
  registry: Registry;
  /** The default namespace of components and clients. */
  namespace: string;
  /** Default: the machine's hostname. */
  hostname?: string;
  clock?: Clock;
  /** Draws for the random routing policies and retry jitter. Default: the system source. */
  random?: Random;
  logger?: Logger;
  /** Lease TTL in seconds. Default 10. */
  leaseTtlSeconds?: number;
  /** Idle time after which a streaming answer gets a heartbeat frame. Default 1000 ms. */
  heartbeatMs?: number;
  /** Silence that means a streaming instance is lost. Default 4 × `heartbeatMs`. */
  heartbeatTimeoutMs?: number;
  /** How long a request may wait for its first frame before trying elsewhere. Default 3000 ms. */
  ackTimeoutMs?: number;
  /**
   * Silence on a call after which the caller probes its instance (one probe per instance, on its
   * control subject). Default 300 ms; 0 turns probing off. See `router/instance_probes.ts`.
   */
  probeQuietMs?: number;
  /**
   * How long a probe waits for its answer before the instance counts as lost (its calls fail
   * over, `instance_lost` where they cannot). Default 400 ms.
   */
  probeTimeoutMs?: number;
  /** Defaults for every client made by this runtime. */
  clientDefaults?: ClientSettings;
  pid?: number;
  /**
   * The work-queue plane (for components served from a queue and `work_queue` calls), or how to
   * open it on first use (the planes preset's `workQueue`). Default: an in-process queue of this
   * runtime's own, made on first use (right for one embedded process only).
   */
  workQueue?: WorkQueue | (() => Promise<WorkQueue>);
  /**
   * The data plane handlers reach as `ctx.data`, or how to make it on first use (the planes
   * preset's `dataPlane`). Default: an in-process plane of this runtime's own, made on first use.
   */
  dataPlane?: DataPlane | (() => DataPlane);
  /**
   * Payload size in bytes from which handlers should send a descriptor instead of the bytes
   * (`ctx.data.threshold`, `data_plane.threshold`). Default 64 KiB.
   */
  dataThreshold?: number;
}

/** Options for {@linkcode Runtime.serve}. */
export interface ServeOptions {
  /** The component's config section, defaults filled. */
  config?: Record<string, unknown>;
  /** How many instances to start (`ServiceArgs.workers`). Default 1. */
  instances?: number;
  /** Requests each instance serves at once; more are answered `busy`. Default 0: no limit. */
  maxInflight?: number;
  /** When a failed instance is restarted. Default `permanent` (always). */
  restart?: RestartType;
  /** Restarts allowed within `restartPeriodMs` before the runtime gives up. Default 5. */
  maxRestarts?: number;
  /** Default 10 000 ms. */
  restartPeriodMs?: number;
  /** The pause before a restart. Default 100 ms doubling to 5 s, ±20 %. */
  backoff?: BackoffOptions;
  /**
   * Each instance also serves from the durable work queue of each endpoint
   * (`<namespace>.<component>.<endpoint>`), as `ServiceArgs.queue` says. Default: not.
   */
  queue?: QueueServing;
}

export { workQueueName } from "./work_queues.ts";

function systemHostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "localhost";
  }
}

/**
 * The runtime of one process: it hosts actors (handing each its bus, lease keeper and clients)
 * and makes the clients they call through (handing each the local actors, for `preferLocal`).
 */
export class Runtime {
  readonly bus: Bus;
  readonly registry: Registry;
  readonly namespace: string;
  readonly hostname: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly keeper: LeaseKeeper;
  readonly inbox: ReplyInbox;
  readonly heartbeatMs: number;
  readonly pid: number;
  readonly version = MESHWORK_VERSION;
  /** The shared queues of the namespace (`runtime.queue(name)`). */
  readonly queues: SharedQueueSet;
  #clientDefaults: ClientSettings;
  #actors = new Map<string, Actor>();
  #views = new Map<string, InstanceView>();
  #clients = new Map<string, EndpointClient>();
  #closed = false;
  #supervisors: Supervisor[] = [];
  #fatalListeners = new Set<(error: unknown) => void>();
  #counterListeners = new Set<(counter: InstanceCounter) => void>();
  /** Answers the NATS services protocol (`$SRV`, ADR-32) for the instances served here. */
  #services: ServiceResponder;
  #finishedListeners = new Set<() => void>();
  #graceMs = 10_000;
  #actorHost: ActorHost;
  #workQueues: WorkQueues;
  #makeDataPlane: () => DataPlane;
  #dataPlane: DataPlane | undefined;
  #ownDataPlane = false;

  constructor(options: RuntimeOptions) {
    this.bus = options.bus;
    this.registry = options.registry;
    this.namespace = validateName(options.namespace, "namespace");
    this.hostname = options.hostname ?? systemHostname();
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
    this.log = options.logger ?? silentLogger;
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.pid = options.pid ?? Deno.pid;
    this.#clientDefaults = options.clientDefaults ?? {};
    const dataPlane = options.dataPlane;
    this.#makeDataPlane = typeof dataPlane === "function" ? dataPlane : () => {
      if (dataPlane) return dataPlane;
      this.#ownDataPlane = true;
      return new MemoryDataPlane({ clock: this.clock });
    };
    const data: DataSource = {
      threshold: options.dataThreshold ?? DEFAULT_DATA_THRESHOLD,
      plane: () => this.dataPlane(),
    };
    this.keeper = new LeaseKeeper(this.registry, {
      ttlSeconds: options.leaseTtlSeconds ?? 10,
      clock: this.clock,
      logger: this.log,
    });
    this.inbox = new ReplyInbox(this.bus, {
      clock: this.clock,
      ackTimeoutMs: options.ackTimeoutMs,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 4 * this.heartbeatMs,
      quietMs: options.probeQuietMs,
      probeTimeoutMs: options.probeTimeoutMs,
    });
    this.#services = new ServiceResponder({
      bus: this.bus,
      instances: () => this.#actors.values(),
      namespace: this.namespace,
      hostname: this.hostname,
      pid: this.pid,
      version: this.version,
      logger: this.log,
    });
    this.#workQueues = new WorkQueues(options.workQueue, this.clock, {
      namespace: this.namespace,
      registry: this.registry,
      registration: this.keeper,
    });
    this.queues = new SharedQueueSet({
      namespace: this.namespace,
      bus: this.bus,
      registry: this.registry,
      registration: this.keeper,
      clock: this.clock,
      log: this.log,
      workQueue: () => this.#workQueues.plane(),
      opened: (name) => this.#workQueues.note(name),
    });
    this.#actorHost = {
      bus: this.bus,
      registration: this.keeper,
      clock: this.clock,
      log: this.log,
      hostname: this.hostname,
      namespace: this.namespace,
      pid: this.pid,
      version: this.version,
      heartbeatMs: this.heartbeatMs,
      ticker: new Ticker(this.clock, 100),
      handle: this.handle,
      client: (target, options) => this.client(target, options),
      workQueue: (address, options) => this.workQueue(address, options),
      queue: (name) => this.queue(name),
      data,
      onCounter: (counter) => {
        for (const listener of this.#counterListeners) listener(counter);
      },
    };
  }

  /**
   * The data plane (`ctx.data` of this runtime's handlers), made on the first call; a failure to
   * make it (the port is taken) throws, and the next call tries again.
   */
  dataPlane(): DataPlane {
    return (this.#dataPlane ??= this.#makeDataPlane());
  }

  /** Payload size from which handlers should send a descriptor (`ctx.data.threshold`). */
  get dataThreshold(): number {
    return this.#actorHost.data!.threshold;
  }

  /**
   * The durable work queue of an endpoint (`<namespace>.<component>.<endpoint>`), opening the
   * work-queue plane on first use. With `options` (a queue-served instance) the queue's settings
   * are brought in line with them; callers open it without.
   */
  workQueue(address: EndpointAddress, options?: QueueOptions): Promise<QueueHandle> {
    return this.#workQueues.endpointQueue(address, options);
  }

  /**
   * The shared queue `name` of this runtime's namespace (HPE Dragon's queues): put values on it
   * from any process, take them in any number of others (`actors/shared_queue.ts`).
   */
  queue<T = unknown>(name: string): SharedQueue<T> {
    return this.queues.queue<T>(name);
  }

  /**
   * Jobs stored and not yet done in every work queue this process has opened (endpoint queues
   * and shared queues), by work-queue name; a queue that cannot be read now is left out.
   */
  async queueDepths(): Promise<Map<string, number>> {
    return this.#workQueues.addDepths(await this.queues.depths());
  }

  /** The actors running in this process. */
  get actors(): Actor[] {
    return [...this.#actors.values()];
  }

  /** The actor with this id, when it runs here. */
  localActor(instance: string): Actor | undefined {
    return this.#actors.get(instance);
  }

  /**
   * Starts `instances` actors of a component under a supervisor (one_for_one) and resolves once
   * each has run its start hook and registered. A start hook that throws on the first start fails
   * this call (OTP semantics: a broken component fails fast); an instance that fails later is
   * restarted with backoff under a new id, and when restarts exceed the component's intensity the
   * runtime reports a fatal error (`onFatal`).
   */
  async serve(definition: AnyComponent, options: ServeOptions = {}): Promise<Actor[]> {
    if (this.#closed) throw new Error("The runtime has shut down");
    await this.keeper.start();
    this.#services.start();
    const count = options.instances ?? 1;
    const first: Actor[] = [];
    const specs: ChildSpec[] = Array.from({ length: count }, (_, i) => ({
      id: `${definition.name}/${i + 1}`,
      restart: options.restart ?? "permanent",
      start: async () => {
        const actor = new Actor(
          this.#actorHost,
          definition,
          options.config ?? {},
          newInstanceId(),
          options.maxInflight,
          options.queue,
        );
        this.#actors.set(actor.id, actor);
        try {
          await actor.start();
        } catch (error) {
          this.#actors.delete(actor.id);
          await actor.stop(0);
          throw error;
        }
        if (first.length < count) first.push(actor);
        actor.exited.then(() => this.#actors.delete(actor.id));
        return {
          exited: actor.exited,
          stop: async () => {
            await actor.stop(this.#graceMs);
            this.#actors.delete(actor.id);
          },
        };
      },
    }));
    const supervisor = new Supervisor(definition.name, specs, {
      intensity: options.maxRestarts ?? 5,
      periodMs: options.restartPeriodMs ?? 10_000,
      backoff: options.backoff,
      clock: this.clock,
      logger: this.log,
      onFinished: () => {
        if (!this.#closed && this.#supervisors.every((s) => s.finished)) {
          for (const listener of this.#finishedListeners) listener();
        }
      },
    });
    this.#supervisors.push(supervisor);
    await supervisor.start();
    supervisor.exited.then((exit) => {
      if (!exit.normal && !this.#closed) this.#fatal(exit.error);
    });
    return first;
  }

  /** The supervisors of the components served here, in start order. */
  get supervisors(): readonly Supervisor[] {
    return this.#supervisors;
  }

  /**
   * Listens for every instance served here having finished by itself (`ctx.done()`, and not to
   * be restarted): the process has nothing left to do and may exit 0.
   */
  onFinished(listener: () => void): () => void {
    this.#finishedListeners.add(listener);
    return () => this.#finishedListeners.delete(listener);
  }

  /** Listens for each counter an instance served here makes (`StartContext.counter`). */
  onCounter(listener: (counter: InstanceCounter) => void): () => void {
    this.#counterListeners.add(listener);
    return () => this.#counterListeners.delete(listener);
  }

  /**
   * Listens for the runtime giving up: a component's supervisor exceeded its restart intensity.
   * The process should stop and exit non-zero, so that systemd or Kubernetes can take over.
   */
  onFatal(listener: (error: unknown) => void): () => void {
    this.#fatalListeners.add(listener);
    return () => this.#fatalListeners.delete(listener);
  }

  #fatal(error: unknown): void {
    this.log.error("A supervisor gave up", { error });
    for (const listener of this.#fatalListeners) listener(error);
  }

  /**
   * A client to a component's endpoint: `client("Worker")`, `client("ns/Worker/generate")`, or
   * `client(Worker)`. Clients are shared per target, endpoint and policy.
   */
  client(
    target: string | AnyComponent,
    options: ClientOptions = {},
  ): EndpointClient {
    // Handlers ask for their dependencies' clients on every request: answer those from a cache
    // keyed by the component object, before any name is parsed or checked.
    const byComponent = typeof target === "string" ? undefined : this.#clientsOf.get(target);
    const quickKey = `${options.endpoint ?? ""}|${options.policy ?? ""}`;
    const cached = byComponent?.get(quickKey);
    if (cached) return cached;
    const client = this.#client(target, options);
    if (typeof target !== "string") {
      if (!this.#clientsOf.has(target)) this.#clientsOf.set(target, new Map());
      this.#clientsOf.get(target)!.set(quickKey, client);
    }
    return client;
  }

  #clientsOf = new WeakMap<AnyComponent, Map<string, EndpointClient>>();

  #client(target: string | AnyComponent, options: ClientOptions): EndpointClient {
    const address = this.#resolve(target, options.endpoint);
    const settings = {
      ...this.#clientDefaults,
      ...(options.policy ? { policy: options.policy } : {}),
    };
    const key = `${address.namespace}/${address.component}/${address.endpoint}|${
      settings.policy ?? ""
    }`;
    let client = this.#clients.get(key);
    if (!client) {
      client = new EndpointClient(this, address, this.view(address), settings);
      this.#clients.set(key, client);
    }
    return client;
  }

  /** The seeds' fluent handle: `handle.namespace(ns).component(c).endpoint(e).client()`. */
  readonly handle: RuntimeHandle = {
    namespace: (namespace) => ({
      component: (component) => ({
        endpoint: (endpoint) => ({
          client: async (options = {}) => {
            const address = {
              namespace: validateName(namespace, "namespace"),
              component: validateName(component, "component name"),
              endpoint: validateName(endpoint, "endpoint name"),
            };
            const client = this.client(`${namespace}/${component}/${endpoint}`, options);
            await this.view(address).start().catch(() => {
              // unreachable registry: the client waits for instances as usual
            });
            return client;
          },
        }),
      }),
    }),
  };

  /** The live view of one endpoint's instances (shared; loading starts on first use). */
  view(address: EndpointAddress): InstanceView {
    const prefix = instancePrefix(address);
    let view = this.#views.get(prefix);
    if (!view) {
      view = new InstanceView(this.registry, prefix, {
        logger: this.log,
        clock: this.clock,
        random: this.random,
      });
      this.#views.set(prefix, view);
      this.#load(view);
    }
    return view;
  }

  /** Stops every actor (gracefully, up to `graceMs`), the lease, the views, the inbox. */
  async shutdown(graceMs = 10_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#graceMs = graceMs;
    this.#services.stop();
    await Promise.all([...this.#supervisors].reverse().map((supervisor) => supervisor.stop()));
    this.#actors.clear();
    await this.keeper.stop();
    for (const client of this.#clients.values()) client.close();
    await Promise.all([...this.#views.values()].map((view) => view.close()));
    this.inbox.close();
    this.queues.close();
    this.#actorHost.ticker?.stop();
    await this.#workQueues.close();
    if (this.#ownDataPlane) await this.#dataPlane?.close();
  }

  #resolve(target: string | AnyComponent, endpoint?: string): EndpointAddress {
    if (typeof target !== "string") {
      return {
        namespace: this.namespace,
        component: validateName(target.name, "component name"),
        endpoint: validateName(endpoint ?? DEFAULT_ENDPOINT, "endpoint name"),
      };
    }
    if (target.includes("/")) {
      const address = parseAddress(target);
      return endpoint ? { ...address, endpoint: validateName(endpoint, "endpoint name") } : address;
    }
    return {
      namespace: this.namespace,
      component: validateName(target, "component name"),
      endpoint: validateName(endpoint ?? DEFAULT_ENDPOINT, "endpoint name"),
    };
  }

  /** Loads a view, retrying with backoff (250 ms doubling to 5 s) until the runtime shuts down. */
  #load(view: InstanceView, attempt = 1): void {
    view.start().catch((error) => {
      if (this.#closed) return;
      this.log.warn("Cannot load instances yet; retrying", { prefix: view.prefix, error });
      const delayMs = backoffDelay(attempt, { initialMs: 250, maxMs: 5000 }, this.random);
      this.clock.setTimeout(() => {
        if (!this.#closed) this.#load(view, attempt + 1);
      }, delayMs);
    });
  }
}
