/**
 * The NATS services protocol (ADR-32, "micro"): every instance answers `$SRV.PING`, `$SRV.INFO`
 * and `$SRV.STATS` (each also `.<name>` and `.<name>.<id>`) on the runtime's bus, so that
 * `nats micro ls`, `nats micro stats` and any other NATS tooling list Meshwork's components,
 * their endpoints and what they have served. Service name = component name, service id =
 * instance id, endpoint subject = the instance's mailbox (DESIGN.md §3).
 *
 * One {@linkcode ServiceResponder} per runtime subscribes `$SRV.>` once and answers for each of
 * the runtime's running instances; an instance that stops (or drains) stops answering.
 * {@linkcode requestServiceStats} is the asking side, on any {@linkcode Bus}.
 *
 * @example
 * ```ts ignore
 * for (const stats of await requestServiceStats(runtime.bus, { name: "Worker" })) {
 *   console.log(stats.id, stats.endpoints.map((e) => e.num_requests));
 * }
 * ```
 *
 * @module
 */

import type { Bus, BusMessage, BusSubscription } from "../planes/bus.ts";
import type { Actor } from "../actors/actor.ts";
import { type Logger, silentLogger } from "../utils/logger.ts";
import { type Clock, systemClock, type TimerId } from "../utils/clock.ts";
import { mailboxSubject, queueGroup, queueSubject } from "../protocol/names.ts";
import { sharedQueueName } from "./shared_queues.ts";

/** The subject prefix of the services protocol. */
export const SERVICE_API_PREFIX = "$SRV";

/** What a services-protocol request asks for. */
export type ServiceVerb = "PING" | "INFO" | "STATS";

/** The `type` of each answer (ADR-32). */
export const SERVICE_RESPONSE_TYPE = {
  PING: "io.nats.micro.v1.ping_response",
  INFO: "io.nats.micro.v1.info_response",
  STATS: "io.nats.micro.v1.stats_response",
} as const satisfies Record<ServiceVerb, string>;

/** What every answer carries: which service instance it is (the `PING` answer). */
export interface ServiceIdentity {
  type: string;
  /** The service name: the component name. */
  name: string;
  /** The service instance id: the instance id. */
  id: string;
  /** A semantic version: the Meshwork version. */
  version: string;
  /** String metadata: namespace, hostname, pid. */
  metadata: Record<string, string>;
}

/** One endpoint in an `INFO` answer. */
export interface ServiceEndpointInfo {
  /** The endpoint name. */
  name: string;
  /** The instance's mailbox subject for the endpoint. */
  subject: string;
  /** The component's queue group (joined on `metadata.queue_subject`). */
  queue_group: string;
  metadata: Record<string, string>;
}

/** An `INFO` answer (`io.nats.micro.v1.info_response`). */
export interface ServiceInfo extends ServiceIdentity {
  description: string;
  endpoints: ServiceEndpointInfo[];
}

/** One endpoint in a `STATS` answer. */
export interface ServiceEndpointStats {
  name: string;
  subject: string;
  queue_group: string;
  /** Requests finished, ok or not. */
  num_requests: number;
  /** Requests that ended in an error. */
  num_errors: number;
  /** The message of the last error; empty when none. */
  last_error: string;
  /** Total processing time, in nanoseconds. */
  processing_time: number;
  /** `processing_time / num_requests`, in nanoseconds (0 before the first request). */
  average_processing_time: number;
  /** Meshwork's extra: `{inflight}`, requests (or queue items) being served now. */
  data?: { inflight: number };
}

/** A `STATS` answer (`io.nats.micro.v1.stats_response`). */
export interface ServiceStats extends ServiceIdentity {
  /** When the instance started (ISO 8601). */
  started: string;
  endpoints: ServiceEndpointStats[];
}

/** What {@linkcode ServiceResponder} reads of its runtime. */
export interface ServiceResponderOptions {
  bus: Bus;
  /** The running instances to answer for (read at each request). */
  instances: () => Iterable<Actor>;
  namespace: string;
  hostname: string;
  pid: number;
  /** A semantic version (`MESHWORK_VERSION`). */
  version: string;
  logger?: Logger;
}

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

/**
 * Answers the services protocol for a runtime's instances: one `$SRV.>` subscription, made by
 * {@linkcode start} (idempotent) and removed by {@linkcode stop}.
 */
export class ServiceResponder {
  readonly #options: ServiceResponderOptions;
  readonly #log: Logger;
  #subscription: BusSubscription | undefined;
  #stopped = false;

  constructor(options: ServiceResponderOptions) {
    this.#options = options;
    this.#log = options.logger ?? silentLogger;
  }

  /** Starts answering (once; again after `stop()` it does nothing). */
  start(): void {
    if (this.#subscription !== undefined || this.#stopped) return;
    this.#subscription = this.#options.bus.subscribe(
      `${SERVICE_API_PREFIX}.>`,
      (message) => this.#onRequest(message),
      {
        onEnd: (error) => {
          this.#subscription = undefined;
          this.#log.warn("Stopped answering the NATS services protocol ($SRV)", { error });
        },
      },
    );
  }

  /** Stops answering. Idempotent. */
  stop(): void {
    this.#stopped = true;
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
  }

  #onRequest(message: BusMessage): void {
    const reply = message.reply;
    if (!reply || message.noResponders) return;
    const tokens = message.subject.split(".");
    const verb = tokens[1];
    if (tokens.length > 4 || (verb !== "PING" && verb !== "INFO" && verb !== "STATS")) return;
    const [, , name, id] = tokens;
    for (const actor of this.#options.instances()) {
      if (!actor.running) continue;
      if (name !== undefined && actor.definition.name !== name) continue;
      if (id !== undefined && actor.id !== id) continue;
      try {
        const answer = this.#answer(verb, actor);
        this.#options.bus.publish(reply, _encoder.encode(JSON.stringify(answer)));
      } catch (error) {
        this.#log.debug("Could not answer a $SRV request", { subject: message.subject, error });
        return;
      }
    }
  }

  #answer(verb: ServiceVerb, actor: Actor): ServiceIdentity {
    const identity = this.#identity(verb, actor);
    if (verb === "PING") return identity;
    if (verb === "INFO") {
      const info: ServiceInfo = {
        ...identity,
        description: `Meshwork component ${actor.definition.name}`,
        endpoints: [
          ...actor.endpointNames.map((endpoint) => {
            const address = actor.address(endpoint);
            return {
              name: endpoint,
              subject: mailboxSubject(address, actor.id),
              queue_group: queueGroup(address),
              metadata: { queue_subject: queueSubject(address) },
            };
          }),
          ...actor.takenQueues.map((queue) => ({
            name: queue,
            subject: sharedQueueName(this.#options.namespace, queue),
            queue_group: "",
            metadata: { shared_queue: queue },
          })),
        ],
      };
      return info;
    }
    const stats: ServiceStats = {
      ...identity,
      started: new Date(actor.endpointStats.startedAt).toISOString(),
      endpoints: [...actor.endpointNames, ...actor.takenQueues].map((endpoint) => {
        const taken = !actor.endpointNames.includes(endpoint);
        const address = actor.address(endpoint);
        const served = actor.endpointStats.endpoint(endpoint);
        const total = Math.round(served.processingNs);
        return {
          name: endpoint,
          subject: taken
            ? sharedQueueName(this.#options.namespace, endpoint)
            : mailboxSubject(address, actor.id),
          queue_group: taken ? "" : queueGroup(address),
          num_requests: served.requests,
          num_errors: served.errors,
          last_error: served.lastError,
          processing_time: total,
          average_processing_time: served.requests > 0 ? Math.round(total / served.requests) : 0,
          data: { inflight: served.inflight },
        };
      }),
    };
    return stats;
  }

  #identity(verb: ServiceVerb, actor: Actor): ServiceIdentity {
    const { namespace, hostname, pid, version } = this.#options;
    return {
      type: SERVICE_RESPONSE_TYPE[verb],
      name: actor.definition.name,
      id: actor.id,
      version,
      metadata: { namespace, hostname, pid: String(pid), meshwork: "true" },
    };
  }
}

/** Options for {@linkcode requestServices} and {@linkcode requestServiceStats}. */
export interface ServiceRequestOptions {
  /** Only the instances of this service (component name). */
  name?: string;
  /** Only this instance (needs `name`). */
  id?: string;
  /** How long to collect answers. Default 250 ms. */
  timeoutMs?: number;
  /** Default: the system clock. */
  clock?: Clock;
}

/** The answer type of each verb. */
export interface ServiceAnswers {
  PING: ServiceIdentity;
  INFO: ServiceInfo;
  STATS: ServiceStats;
}

/**
 * Sends a services-protocol request (`$SRV.<verb>[.<name>[.<id>]]`) with a fresh inbox as its
 * reply subject and resolves with every answer that came within `timeoutMs` (sooner, with none,
 * when the bus says nobody listens). Answers that are not JSON of the verb's `type` are skipped.
 */
export function requestServices<V extends ServiceVerb>(
  bus: Bus,
  verb: V,
  options: ServiceRequestOptions = {},
): Promise<ServiceAnswers[V][]> {
  const { name, id, timeoutMs = 250, clock = systemClock } = options;
  if (id !== undefined && name === undefined) {
    return Promise.reject(new TypeError("Cannot ask for a service id without its name"));
  }
  const subject = [SERVICE_API_PREFIX, verb, name, id].filter((t) => t !== undefined).join(".");
  const type = SERVICE_RESPONSE_TYPE[verb];
  return new Promise((resolve, reject) => {
    const answers: ServiceAnswers[V][] = [];
    const inbox = bus.newInbox();
    const timers: TimerId[] = [];
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      for (const timer of timers) clock.clearTimeout(timer);
      subscription.unsubscribe();
      resolve(answers);
    };
    // Answers (and the bus's "no responders") come from the plane's delivery loop, never
    // synchronously from `publish`, so the timer below is set before any of them.
    const subscription = bus.subscribe(inbox, (message) => {
      if (message.noResponders) return done();
      try {
        const answer = JSON.parse(_decoder.decode(message.data));
        if (answer?.type === type) answers.push(answer);
      } catch {
        // not an answer of the protocol
      }
    });
    try {
      bus.publish(subject, new Uint8Array(0), { reply: inbox });
    } catch (error) {
      subscription.unsubscribe();
      return reject(error);
    }
    timers.push(clock.setTimeout(done, timeoutMs));
  });
}

/**
 * Asks every instance on the bus for its ADR-32 stats; resolves with the answers that came
 * within `timeoutMs` (default 250 ms). With `name`, only that service's instances answer.
 */
export function requestServiceStats(
  bus: Bus,
  options?: { name?: string; timeoutMs?: number },
): Promise<ServiceStats[]> {
  return requestServices(bus, "STATS", options);
}
