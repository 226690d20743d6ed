/**
 * Probes of instances whose calls went quiet: the fast way a caller tells a lost instance (killed,
 * frozen, or cut off the network) from a slow handler, without traffic while answers come in.
 *
 * When a call to an instance has heard nothing for a while (the reply inbox's scan decides), the
 * caller sends ONE probe to the instance's control subject, with a reply subject under its own
 * inbox (`<inbox>._p<n>`); every quiet call to that instance shares it. The instance answers from
 * its control subscription, without its handlers (`actors/actor.ts`). Three outcomes:
 *
 * - an answer: the instance is alive; its calls stay guarded by the heartbeat timeout;
 * - "no responders" (NATS' 503 status; the embedded bus says the same): nobody holds the control
 *   subscription any more, the instance is gone (a `kill -9` closes its socket, and the server
 *   drops its subscriptions at once);
 * - nothing within the probe timeout: the instance is lost (frozen, or its host is cut off with no
 *   FIN, so the server still forwards to a socket nobody reads).
 *
 * A timeout proves nothing when this side could not have heard the answer: while its own
 * connection is down (probes in flight are dropped, undecided), or when its event loop stalled so
 * long that the answer may be waiting unread (the time-out fired later than half the timeout past
 * its due time): such a probe is dropped undecided, and the next scan sends another.
 *
 * @module
 */

import type { Bus, BusMessage } from "../planes/bus.ts";
import type { Clock } from "../utils/clock.ts";
import { type QueuedTimeout, TimeoutQueue } from "../utils/timeout_queue.ts";
import { controlSubject } from "../protocol/names.ts";
import { H, PROBE } from "../protocol/wire.ts";

/** How a probe showed its instance lost. */
export type ProbeVerdict = "no_responders" | "no_answer";

/** What {@linkcode InstanceProbes} reports to, and how it sends. */
export interface InstanceProbesOptions {
  bus: Bus;
  clock: Clock;
  /** The inbox prefix the answers come back under (`<prefix>._p<n>`). */
  prefix: string;
  /** How long a probe waits for its answer. */
  timeoutMs: number;
  /** The instance answered at `now`. */
  onAlive(instance: string, now: number): void;
  /** The instance is lost. */
  onLost(instance: string, verdict: ProbeVerdict): void;
}

/** The component of an instance, to reach its control subject. */
export interface ProbeTarget {
  readonly namespace: string;
  readonly component: string;
}

interface _Probe {
  instance: string;
  token: string;
  sentAt: number;
  timeout: QueuedTimeout | undefined;
}

const _EMPTY = new Uint8Array(0);
const _HEADERS = { [H.kind]: PROBE };
/** Reply tokens of probes start with this (the inbox's call tokens are base-36 digits). */
export const PROBE_TOKEN_PREFIX = "_p";

/**
 * At most one probe in flight per instance; their time-outs share one timer
 * ({@linkcode TimeoutQueue}), armed only while a probe waits.
 */
export class InstanceProbes {
  #options: InstanceProbesOptions;
  #timeouts: TimeoutQueue;
  #byInstance = new Map<string, _Probe>();
  #byToken = new Map<string, _Probe>();
  #counter = 0;
  /** Probes sent so far (for tests and metrics). */
  sent = 0;

  constructor(options: InstanceProbesOptions) {
    this.#options = options;
    this.#timeouts = new TimeoutQueue(options.clock, options.timeoutMs);
  }

  /** Whether a probe of `instance` waits for its answer. */
  probing(instance: string): boolean {
    return this.#byInstance.has(instance);
  }

  /** Sends a probe to `instance` unless one is in flight. A closed bus sends nothing. */
  send(instance: string, target: ProbeTarget): void {
    if (this.#byInstance.has(instance)) return;
    const { bus, clock, prefix } = this.#options;
    const token = `${PROBE_TOKEN_PREFIX}${(this.#counter++).toString(36)}`;
    try {
      bus.publish(controlSubject(target.namespace, target.component, instance), _EMPTY, {
        reply: `${prefix}.${token}`,
        headers: _HEADERS,
      });
    } catch {
      return; // the bus is closed: the deadline and the heartbeat timeout still guard the calls
    }
    this.sent++;
    const probe: _Probe = { instance, token, sentAt: clock.now(), timeout: undefined };
    this.#byInstance.set(instance, probe);
    this.#byToken.set(token, probe);
    probe.timeout = this.#timeouts.add(() => this.#unanswered(probe));
  }

  /** Takes a message on a probe's reply token (late or unknown answers are dropped). */
  answer(token: string, message: BusMessage): void {
    const probe = this.#byToken.get(token);
    if (!probe) return;
    this.#forget(probe);
    if (message.noResponders) this.#options.onLost(probe.instance, "no_responders");
    else this.#options.onAlive(probe.instance, this.#options.clock.now());
  }

  /** Drops every probe in flight, undecided (this side's connection went down). */
  dropAll(): void {
    for (const probe of [...this.#byToken.values()]) this.#forget(probe);
  }

  /** Drops every probe and the timer. */
  close(): void {
    this.#byInstance.clear();
    this.#byToken.clear();
    this.#timeouts.clear();
  }

  #unanswered(probe: _Probe): void {
    this.#forget(probe);
    const { clock, timeoutMs } = this.#options;
    // Fired far past its due time: this side's event loop stalled, the answer may be unread.
    if (clock.now() - probe.sentAt > timeoutMs * 1.5) return;
    this.#options.onLost(probe.instance, "no_answer");
  }

  #forget(probe: _Probe): void {
    probe.timeout?.cancel();
    this.#byToken.delete(probe.token);
    if (this.#byInstance.get(probe.instance) === probe) this.#byInstance.delete(probe.instance);
  }
}
