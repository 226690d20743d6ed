/**
 * The cluster work-queue plane: a {@linkcode WorkQueue} on NATS JetStream
 * (`npm:@nats-io/jetstream`).
 *
 * A queue named `demo.worker` is
 * - the stream `MESHQ_demo_worker` (dots become underscores) with `retention: workqueue`, file
 *   storage, `discard: new` (a full queue refuses jobs rather than dropping old ones), the
 *   queue's `duplicateWindowMs` and `maxBytes`, on the one subject `meshq.demo.worker`, with 3
 *   replicas on a cluster of 3 or more servers (1 on a single server; {@linkcode clusterReplicas});
 * - the durable pull consumer `workers` on that stream, shared by every instance (so each job goes
 *   to one of them), with explicit acks, the queue's `ackWaitMs`, and `max_deliver` one above
 *   the queue's `maxDeliver` (the extra delivery is the dead-letter notice, see
 *   `jetstream_consumer.ts`).
 *
 * A job is a message with the job id in `Nats-Msg-Id` (JetStream's de-duplication) and the
 * submitter's headers as NATS headers. Two queue names that differ only by `.` against `_` map
 * to the same stream; the second is refused with a clear error.
 *
 * @example
 * ```ts ignore
 * import { connectJetStreamWorkQueue } from "./jetstream_work_queue.ts";
 * const plane = await connectJetStreamWorkQueue({ servers: "127.0.0.1:4222" });
 * const jobs = await plane.queue("demo.worker", { ackWaitMs: 10_000 });
 * await jobs.submit("req-1", new TextEncoder().encode("hello"));
 * await plane.close();
 * ```
 *
 * @module
 */

import {
  AckPolicy,
  type Consumer,
  type ConsumerConfig,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { createLogger, type Logger } from "../../utils/logger.ts";
import {
  checkJobId,
  checkMaxInflight,
  checkQueueName,
  type ConsumeOptions,
  type QueueConsumer,
  type QueueHandle,
  type QueueOptions,
  resolveQueueOptions,
  type SubmitResult,
  type WorkQueue,
  WorkQueueClosedError,
  WorkQueueFullError,
} from "../work_queue.ts";
import { connectNatsBus, type NatsBusOptions } from "./connect.ts";
import { JetStreamQueueConsumer, JOB_ID_HEADER } from "./jetstream_consumer.ts";
import { toNatsHeaders } from "./messages.ts";
import type { NatsBus } from "./nats_bus.ts";

/** The durable consumer every instance of a queue shares. */
export const DURABLE_NAME = "workers";

/** The stream of queue `name`: `MESHQ_` and the name with dots as underscores. */
export function streamName(name: string): string {
  return `MESHQ_${name.replaceAll(".", "_")}`;
}

/** The subject of queue `name`: `meshq.<name>`. */
export function queueSubject(name: string): string {
  return `meshq.${name}`;
}

/** Options for {@linkcode JetStreamWorkQueue.open}. */
export interface JetStreamWorkQueueOptions {
  /** The server address for messages and logs. Default: the connection's current server. */
  address?: string;
  /** Where pull failures and throwing callbacks are reported. Default: standard error. */
  logger?: Logger;
  /** Closed by `close()` (when the plane opened its own connection). */
  owned?: { close(): Promise<void> };
  /**
   * Replicas of each queue's stream (and so of its consumer). Default: 3 when the server is part
   * of a cluster of 3 or more (its INFO names a cluster and lists 3 or more client URLs), 1
   * otherwise.
   */
  replicas?: number;
}

/**
 * The replicas a queue's stream gets on the servers `connection` is part of: 3 in a cluster of 3
 * or more (so that a queue keeps every job through the loss of one server), 1 otherwise.
 */
export function clusterReplicas(connection: NatsConnection): number {
  const info = (connection as { info?: { cluster?: string; connect_urls?: string[] } }).info;
  if (!info?.cluster) return 1;
  return new Set(info.connect_urls ?? []).size >= 3 ? 3 : 1;
}

const _MS = 1_000_000; // nanoseconds
/** How long `open` waits for a cluster's JetStream API (a leader election) before it fails. */
const JETSTREAM_WAIT_MS = 20_000;
/** The pause between two tries of the JetStream API while it has no leader. */
const JETSTREAM_RETRY_MS = 250;

/**
 * A {@linkcode WorkQueue} on one NATS connection (kind `"jetstream"`). Made by
 * {@linkcode connectJetStreamWorkQueue} (its own connection) or {@linkcode JetStreamWorkQueue.open}
 * (a connection that is already open, e.g. a `NatsBus`'s).
 */
export class JetStreamWorkQueue implements WorkQueue {
  /** Always `"jetstream"`. */
  readonly kind = "jetstream";
  /** The server(s), e.g. `nats://127.0.0.1:4222`. */
  readonly address: string;
  readonly #jsm: JetStreamManager;
  readonly #js: JetStreamClient;
  readonly #logger: Logger;
  readonly #owned: { close(): Promise<void> } | undefined;
  readonly #consumers = new Set<QueueConsumer>();
  readonly #context: _Context;
  readonly #replicas: number;
  #closing: Promise<void> | undefined;

  private constructor(
    jsm: JetStreamManager,
    address: string,
    replicas: number,
    options: JetStreamWorkQueueOptions,
  ) {
    this.#jsm = jsm;
    this.#replicas = replicas;
    this.#js = jsm.jetstream();
    this.address = address;
    this.#logger = options.logger ?? createLogger();
    this.#owned = options.owned;
    this.#context = {
      js: this.#js,
      jsm: this.#jsm,
      logger: this.#logger,
      consumers: this.#consumers,
      checkOpen: () => this.#checkOpen(),
    };
  }

  /**
   * Uses an open connection. Rejects with `Error("Cannot use the work queue: JetStream is not
   * enabled on nats://... (start nats-server with -js)")` when the server has no JetStream. When
   * the server has JetStream but its API does not answer (a cluster electing its JetStream leader
   * after losing a server), tries again every 250 ms for up to 20 s.
   */
  static async open(
    connection: NatsConnection,
    options: JetStreamWorkQueueOptions = {},
  ): Promise<JetStreamWorkQueue> {
    const address = options.address ?? `nats://${connection.getServer()}`;
    let jsm: JetStreamManager;
    const giveUpAt = Date.now() + JETSTREAM_WAIT_MS;
    for (;;) {
      try {
        jsm = await jetstreamManager(connection);
        break;
      } catch (error) {
        // A server with JetStream on (its INFO says so) that does not answer the JetStream API
        // yet: the cluster is electing its JetStream leader (a server was lost). Wait for it.
        const enabled = (connection as { info?: { jetstream?: boolean } }).info?.jetstream;
        if (enabled && Date.now() < giveUpAt && !connection.isClosed()) {
          await new Promise((resolve) => setTimeout(resolve, JETSTREAM_RETRY_MS));
          continue;
        }
        throw new Error(
          enabled
            ? `Cannot use the work queue: JetStream on ${address} did not answer within ` +
              `${JETSTREAM_WAIT_MS / 1000}s: ${_message(error)}`
            : `Cannot use the work queue: JetStream is not enabled on ${address} (start ` +
              `nats-server with -js)`,
          { cause: error },
        );
      }
    }
    const replicas = options.replicas ?? clusterReplicas(connection);
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
      throw new RangeError(
        `Work queue replicas must be a whole number from 1 to 5: got ${replicas}`,
      );
    }
    return new JetStreamWorkQueue(jsm, address, replicas, options);
  }

  /**
   * Creates the stream and durable consumer of queue `name` when missing; when they exist and
   * `options` are given, updates them to match.
   */
  async queue(name: string, options?: QueueOptions): Promise<QueueHandle> {
    this.#checkOpen();
    checkQueueName(name);
    const resolved = resolveQueueOptions(options);
    const stream = streamName(name);
    const subject = queueSubject(name);
    const giveUpAt = Date.now() + JETSTREAM_WAIT_MS;
    for (;;) {
      try {
        await this.#ensureStream(stream, subject, resolved, options !== undefined);
        await this.#ensureConsumer(stream, resolved, options !== undefined);
        break;
      } catch (error) {
        if (error instanceof TypeError) throw error;
        // The stream's replicas are electing a leader (a server of the cluster was lost).
        if (_isElection(error) && Date.now() < giveUpAt) {
          await new Promise((resolve) => setTimeout(resolve, JETSTREAM_RETRY_MS));
          this.#checkOpen();
          continue;
        }
        throw new Error(
          `Cannot create the work queue "${name}" on ${this.address}: ${_message(error)}`,
          { cause: error },
        );
      }
    }
    const consumer = await this.#js.consumers.get(stream, DURABLE_NAME);
    return new _Handle(this.#context, name, subject, consumer, resolved.maxDeliver);
  }

  /** Stops every consumer started through this plane, then closes an owned connection. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.#consumers].map((c) => c.stop()));
      await this.#owned?.close();
    })();
    return this.#closing;
  }

  #checkOpen(): void {
    if (this.#closing) throw new WorkQueueClosedError();
  }

  async #ensureStream(
    stream: string,
    subject: string,
    options: Required<QueueOptions>,
    update: boolean,
  ): Promise<void> {
    const config: Partial<StreamConfig> & { name: string } = {
      name: stream,
      subjects: [subject],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      duplicate_window: options.duplicateWindowMs * _MS,
      max_bytes: options.maxBytes,
      num_replicas: this.#replicas,
    };
    const existing = await this.#jsm.streams.info(stream).catch((error) => {
      if (_isNotFound(error)) return undefined;
      throw error;
    });
    if (existing === undefined) {
      await this.#jsm.streams.add(config);
      return;
    }
    const subjects = existing.config.subjects ?? [];
    if (subjects.length !== 1 || subjects[0] !== subject) {
      throw new TypeError(
        `Cannot use the work queue "${subject.slice(6)}": its stream "${stream}" already serves ` +
          `"${subjects.join(", ")}"`,
      );
    }
    const same = existing.config.duplicate_window === config.duplicate_window &&
      existing.config.max_bytes === config.max_bytes;
    // A stream made before the cluster grew (or on one server) is scaled up, never down.
    const fewer = (existing.config.num_replicas ?? 1) < this.#replicas;
    if ((update && !same) || fewer) {
      await this.#jsm.streams.update(stream, {
        ...config,
        num_replicas: Math.max(this.#replicas, existing.config.num_replicas ?? 1),
      });
    }
  }

  async #ensureConsumer(
    stream: string,
    options: Required<QueueOptions>,
    update: boolean,
  ): Promise<void> {
    const config: Partial<ConsumerConfig> = {
      durable_name: DURABLE_NAME,
      ack_policy: AckPolicy.Explicit,
      ack_wait: options.ackWaitMs * _MS,
      max_deliver: options.maxDeliver + 1,
    };
    const existing = await this.#jsm.consumers.info(stream, DURABLE_NAME).catch((error) => {
      if (_isNotFound(error)) return undefined;
      throw error;
    });
    if (existing === undefined) {
      await this.#jsm.consumers.add(stream, config);
      return;
    }
    const same = existing.config.ack_wait === config.ack_wait &&
      existing.config.max_deliver === config.max_deliver;
    if (update && !same) {
      await this.#jsm.consumers.update(stream, DURABLE_NAME, {
        ack_wait: config.ack_wait,
        max_deliver: config.max_deliver,
      });
    }
  }
}

/** What a queue handle uses of its plane. */
interface _Context {
  js: JetStreamClient;
  jsm: JetStreamManager;
  logger: Logger;
  /** The running consumers, stopped by `close()`. */
  consumers: Set<QueueConsumer>;
  /** Throws `WorkQueueClosedError` once the plane is closing. */
  checkOpen(): void;
}

/** One queue, as this connection sees it. */
class _Handle implements QueueHandle {
  readonly name: string;
  readonly #plane: _Context;
  readonly #subject: string;
  readonly #consumer: Consumer;
  readonly #maxDeliver: number;

  constructor(
    plane: _Context,
    name: string,
    subject: string,
    consumer: Consumer,
    maxDeliver: number,
  ) {
    this.name = name;
    this.#plane = plane;
    this.#subject = subject;
    this.#consumer = consumer;
    this.#maxDeliver = maxDeliver;
  }

  async submit(
    id: string,
    data: Uint8Array,
    headers: Record<string, string> = {},
  ): Promise<SubmitResult> {
    const { js, checkOpen } = this.#plane;
    checkOpen();
    checkJobId(id);
    const hdrs = toNatsHeaders({ ...headers, [JOB_ID_HEADER]: id })!;
    try {
      const ack = await js.publish(this.#subject, data, { msgID: id, headers: hdrs });
      return { duplicate: ack.duplicate };
    } catch (error) {
      const message = _message(error);
      if (/maximum (bytes|messages) exceeded/i.test(message)) {
        throw new WorkQueueFullError(
          `Cannot submit the job "${id}": the work queue "${this.name}" is full`,
          { cause: error },
        );
      }
      throw new Error(
        `Cannot submit the job "${id}" to the work queue "${this.name}": ${message}`,
        {
          cause: error,
        },
      );
    }
  }

  consume(options: ConsumeOptions): QueueConsumer {
    const { logger, consumers, checkOpen } = this.#plane;
    checkOpen();
    checkMaxInflight(options.maxInflight);
    const consumer: JetStreamQueueConsumer = new JetStreamQueueConsumer({
      queue: this.name,
      consumer: this.#consumer,
      maxDeliver: this.#maxDeliver,
      logger,
      onStopped: () => consumers.delete(consumer),
    }, options);
    consumers.add(consumer);
    return consumer;
  }

  async pending(): Promise<number> {
    const { jsm, checkOpen } = this.#plane;
    checkOpen();
    const info = await jsm.streams.info(streamName(this.name));
    return info.state.messages;
  }
}

/**
 * Connects to NATS (the same options, credentials and error messages as `connectNatsBus`) and
 * returns a {@linkcode JetStreamWorkQueue} that owns the connection. Rejects with
 * `Error("Cannot use the work queue: JetStream is not enabled on nats://...")` when the server
 * runs without JetStream (the connection is closed again).
 */
export async function connectJetStreamWorkQueue(
  options: NatsBusOptions,
): Promise<JetStreamWorkQueue> {
  const bus = await connectNatsBus(options);
  return await jetStreamWorkQueueOn(bus, true, options.logger);
}

/**
 * A {@linkcode JetStreamWorkQueue} on a {@linkcode NatsBus}'s connection (one connection per
 * process). With `owns`, the work queue's `close()` closes the bus too; a failure closes it then.
 */
export async function jetStreamWorkQueueOn(
  bus: NatsBus,
  owns = false,
  logger?: Logger,
): Promise<JetStreamWorkQueue> {
  try {
    return await JetStreamWorkQueue.open(bus.connection, {
      address: bus.address,
      logger,
      owned: owns ? bus : undefined,
    });
  } catch (error) {
    if (owns) await bus.close();
    throw error;
  }
}

/**
 * Whether `error` is what JetStream answers while a stream or the cluster has no leader: a
 * timeout, no responders, or "JetStream system temporarily unavailable" (10008).
 */
function _isElection(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === 10008 || code === "TIMEOUT" || code === "503" ||
    /timeout|timed out|no responders|temporarily unavailable/i.test(_message(error));
}

function _isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === 10059 || code === 10014 || /not found/i.test(_message(error));
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
