/**
 * Supervisors with OTP semantics. A supervisor starts its children in order, stops them in
 * reverse order, and when a child ends it decides by the child's restart type and its own
 * strategy:
 *
 * | restart type | restarted when it ends |
 * |---|---|
 * | `permanent` | always |
 * | `transient` | only when it failed |
 * | `temporary` | never |
 *
 * | strategy | what is restarted |
 * |---|---|
 * | `one_for_one` | the child that ended |
 * | `one_for_all` | every child (the others are stopped first, in reverse order) |
 * | `rest_for_one` | the child and every child started after it |
 *
 * More than `intensity` restarts within `periodMs` and the supervisor gives up: it stops every
 * child and ends with an {@linkcode EscalationError}, which its own parent (or the process) then
 * handles. Restarts wait an exponential backoff with jitter. Every decision is one log line and a
 * counter.
 *
 * A supervisor is itself a child (`asChild()`), so trees nest.
 *
 * @module
 */

import { backoffDelay, type BackoffOptions } from "../utils/backoff.ts";
import { type Clock, systemClock } from "../utils/clock.ts";
import { type Logger, silentLogger } from "../utils/logger.ts";
import { RestartWindow } from "./restart_window.ts";

/** How a child ended. */
export type ChildExit = { normal: true } | { normal: false; error: unknown };

/** A running child. */
export interface ChildHandle {
  /** Settles when the child ends by itself (not when it is stopped). */
  readonly exited: Promise<ChildExit>;
  /** Stops the child; `exited` need not settle afterwards. */
  stop(): Promise<void>;
}

/** Restart types. */
export type RestartType = "permanent" | "transient" | "temporary";

/** Strategies. */
export type Strategy = "one_for_one" | "one_for_all" | "rest_for_one";

/** How to run one child. */
export interface ChildSpec {
  /** A name for logs and counters. */
  readonly id: string;
  /** Default `permanent`. */
  readonly restart?: RestartType;
  /** Starts the child. A start that throws counts as the child failing. */
  start(): Promise<ChildHandle>;
}

/** Supervisor settings. */
export interface SupervisorOptions {
  /** Default `one_for_one`. */
  strategy?: Strategy;
  /** Restarts allowed within `periodMs`. Default 5. */
  intensity?: number;
  /** Default 10 000 ms. */
  periodMs?: number;
  backoff?: BackoffOptions;
  clock?: Clock;
  logger?: Logger;
  random?: () => number;
  /** Called once every child has ended for good (done, and not to be restarted). */
  onFinished?: () => void;
}

/** The supervisor gave up: too many restarts too quickly. */
export class EscalationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EscalationError";
  }
}

/** Counters of what a supervisor decided. */
export interface SupervisorStats {
  restarts: Record<string, number>;
  escalations: number;
}

interface Slot {
  spec: ChildSpec;
  handle?: ChildHandle;
  /** Bumped on every (re)start and stop, so a stale `exited` is ignored. */
  generation: number;
  failures: number;
  startedAt: number;
  /** Ended and not to be restarted. */
  ended?: boolean;
}

/** A supervisor of an ordered list of children. */
export class Supervisor {
  readonly name: string;
  readonly strategy: Strategy;
  #slots: Slot[];
  #window: RestartWindow;
  #clock: Clock;
  #log: Logger;
  #random: () => number;
  #backoff: BackoffOptions;
  #state: "new" | "running" | "stopping" | "stopped" = "new";
  #exit!: (exit: ChildExit) => void;
  #busy: Promise<void> = Promise.resolve();
  #stats: SupervisorStats = { restarts: {}, escalations: 0 };
  #wake: (() => void) | undefined;
  #onFinished?: () => void;
  /** Settles when the supervisor ends: stopped (normal) or gave up (an `EscalationError`). */
  readonly exited: Promise<ChildExit>;

  constructor(name: string, children: readonly ChildSpec[], options: SupervisorOptions = {}) {
    const ids = new Set<string>();
    for (const child of children) {
      if (ids.has(child.id)) throw new TypeError(`Duplicate child id "${child.id}" in ${name}`);
      ids.add(child.id);
    }
    this.name = name;
    this.strategy = options.strategy ?? "one_for_one";
    this.#slots = children.map((spec) => ({ spec, generation: 0, failures: 0, startedAt: 0 }));
    this.#clock = options.clock ?? systemClock;
    this.#window = new RestartWindow(
      options.intensity ?? 5,
      options.periodMs ?? 10_000,
      this.#clock,
    );
    this.#log = (options.logger ?? silentLogger).child({ supervisor: name });
    this.#random = options.random ?? Math.random;
    this.#backoff = options.backoff ?? {};
    this.#onFinished = options.onFinished;
    this.exited = new Promise((resolve) => (this.#exit = resolve));
  }

  /** What it decided so far. */
  get stats(): SupervisorStats {
    return { restarts: { ...this.#stats.restarts }, escalations: this.#stats.escalations };
  }

  /** The running children's ids, in start order. */
  get running(): string[] {
    return this.#slots.filter((slot) => slot.handle).map((slot) => slot.spec.id);
  }

  /**
   * Starts the children in order. As in OTP, a child that fails its first start fails the
   * supervisor's start: the children already started are stopped in reverse order and the error
   * is thrown. Later failures (on restart) go through restart intensity instead.
   */
  async start(): Promise<void> {
    if (this.#state !== "new") throw new Error(`Supervisor ${this.name} was already started`);
    this.#state = "running";
    let failure: { error: unknown } | undefined;
    await this.#serialized(async () => {
      for (const slot of this.#slots) {
        if (this.#state !== "running") return;
        try {
          await this.#startSlot(slot, true);
        } catch (error) {
          failure = { error };
          this.#state = "stopping";
          await this.#stopSlots(this.#slots);
          this.#state = "stopped";
          this.#exit({ normal: false, error });
          return;
        }
      }
    });
    if (failure) throw failure.error;
  }

  /** Every child has ended for good (done, and not to be restarted). */
  get finished(): boolean {
    return this.#slots.length > 0 && this.#slots.every((slot) => slot.ended);
  }

  /** Stops every child in reverse order; `exited` settles as normal. Idempotent. */
  stop(): Promise<void> {
    if (this.#state === "stopping" || this.#state === "stopped") return this.#busy;
    this.#state = "stopping";
    this.#wake?.(); // a restart waiting out its backoff gives up at once
    this.#busy = this.#busy.then(() => this.#stopSlots(this.#slots)).then(() => {
      this.#state = "stopped";
      this.#exit({ normal: true });
    });
    return this.#busy;
  }

  /** This supervisor as a child of another. */
  asChild(restart: RestartType = "permanent"): ChildSpec {
    return {
      id: this.name,
      restart,
      start: async () => {
        await this.start();
        return { exited: this.exited, stop: () => this.stop() };
      },
    };
  }

  /** Waits out a backoff; `stop()` ends the wait early. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        this.#clock.clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #serialized(work: () => Promise<void>): Promise<void> {
    this.#busy = this.#busy.then(work, work);
    return this.#busy;
  }

  async #startSlot(slot: Slot, first = false): Promise<void> {
    const generation = ++slot.generation;
    slot.startedAt = this.#clock.now();
    let handle: ChildHandle;
    try {
      handle = await slot.spec.start();
    } catch (error) {
      this.#log.warn("Child failed to start", { child: slot.spec.id, error });
      if (first) throw error;
      slot.handle = undefined;
      queueMicrotask(() => this.#onExit(slot, generation, { normal: false, error }));
      return;
    }
    if (generation !== slot.generation || this.#state !== "running") {
      await handle.stop();
      return;
    }
    slot.handle = handle;
    this.#log.debug("Child started", { child: slot.spec.id });
    handle.exited.then(
      (exit) => this.#onExit(slot, generation, exit),
      (error) => this.#onExit(slot, generation, { normal: false, error }),
    );
  }

  async #stopSlots(slots: readonly Slot[]): Promise<void> {
    for (const slot of [...slots].reverse()) {
      slot.generation++;
      const handle = slot.handle;
      slot.handle = undefined;
      if (handle) {
        try {
          await handle.stop();
        } catch (error) {
          this.#log.warn("Child did not stop cleanly", { child: slot.spec.id, error });
        }
      }
    }
  }

  #onExit(slot: Slot, generation: number, exit: ChildExit): void {
    if (generation !== slot.generation || this.#state !== "running") return;
    slot.handle = undefined;
    const id = slot.spec.id;
    const restart = slot.spec.restart ?? "permanent";
    const reason = exit.normal ? "normal" : exit.error;
    if (restart === "temporary" || (restart === "transient" && exit.normal)) {
      this.#log.info("Child ended; not restarted", { child: id, restart, reason });
      slot.ended = true;
      if (this.finished) this.#onFinished?.();
      return;
    }
    if (!this.#window.record()) {
      this.#stats.escalations++;
      const error = new EscalationError(
        `Supervisor "${this.name}" gave up: more than ${this.#window.intensity} restarts in ${this.#window.periodMs} ms (last: "${id}")`,
        { cause: exit.normal ? undefined : exit.error },
      );
      this.#log.error("Restart intensity exceeded; stopping every child and escalating", {
        child: id,
        intensity: this.#window.intensity,
        periodMs: this.#window.periodMs,
      });
      this.#state = "stopping";
      void this.#serialized(() => this.#stopSlots(this.#slots)).then(() => {
        this.#state = "stopped";
        this.#exit({ normal: false, error });
      });
      return;
    }
    // A child that ran for a whole period before failing starts its backoff afresh.
    if (this.#clock.now() - slot.startedAt >= this.#window.periodMs) slot.failures = 0;
    slot.failures++;
    const index = this.#slots.indexOf(slot);
    const group = this.strategy === "one_for_one"
      ? [slot]
      : this.strategy === "one_for_all"
      ? this.#slots
      : this.#slots.slice(index);
    const delay = backoffDelay(slot.failures, this.#backoff, this.#random);
    this.#stats.restarts[id] = (this.#stats.restarts[id] ?? 0) + 1;
    this.#log.warn("Child ended; restarting", {
      child: id,
      reason,
      strategy: this.strategy,
      restarting: group.map((s) => s.spec.id).join(","),
      delayMs: delay,
    });
    void this.#serialized(async () => {
      await this.#stopSlots(group.filter((s) => s !== slot));
      await this.#pause(delay);
      for (const member of group) {
        if (this.#state !== "running") return;
        await this.#startSlot(member);
      }
    });
  }
}
