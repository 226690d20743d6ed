/**
 * Chooses the planes at start-up: NATS + etcd (+ JetStream for the work queue) when the config or
 * the environment names them (cluster mode), the in-process bus, registry and work queue otherwise
 * (embedded mode).
 *
 * A preset, in Hono's style: {@linkcode PRESETS} maps each mode to the factories of its bus,
 * registry and work queue, so a new plane implementation is one folder under `planes/` plus one
 * line here.
 *
 * The work queue opens on first use ({@linkcode Planes.workQueue}): in cluster mode it is
 * JetStream on the bus's own NATS connection, so a `nats-server` without `-js` still serves every
 * graph that no component serves from a queue.
 *
 * @module
 */

import type { Bus } from "../planes/bus.ts";
import type { Logger } from "../utils/logger.ts";
import type { Registry } from "../planes/registry.ts";
import { MemoryBus } from "../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../planes/memory/memory_registry.ts";
import { connectNatsBus } from "../planes/nats/connect.ts";
import { connectEtcdRegistry } from "../planes/etcd/etcd_registry.ts";
import type { WorkQueue } from "../planes/work_queue.ts";
import { MemoryWorkQueue } from "../planes/memory/memory_work_queue.ts";
import { jetStreamWorkQueueOn } from "../planes/nats/jetstream_work_queue.ts";
import type { NatsBus } from "../planes/nats/nats_bus.ts";
import type { EtcdConfig, NatsConfig } from "../configs/plane_settings.ts";

/** The planes a process runs on. */
export interface Planes {
  mode: "cluster" | "embedded";
  bus: Bus;
  registry: Registry;
  /**
   * The work-queue plane, opened on the first call (and again after a failed one): JetStream on
   * the bus's NATS connection in cluster mode (rejects when the server runs without `-js`), an
   * in-process queue in embedded mode.
   */
  workQueue: () => Promise<WorkQueue>;
  /** Closes the work queue (when opened), the registry, then the bus. */
  close(): Promise<void>;
}

/** Where the planes are: both set for cluster mode, neither for embedded mode. */
export interface PlaneSettings {
  nats?: NatsConfig;
  etcd?: EtcdConfig;
  /** A name for the NATS connection (shows in `nats-server` monitoring). */
  name?: string;
  logger?: Logger;
}

/** Opens one plane from the settings (its section is there when its mode is chosen). */
type _Factory<T> = (settings: PlaneSettings) => T | Promise<T>;

/** The implementations a mode runs on. */
interface _Preset {
  bus: _Factory<Bus>;
  registry: _Factory<Registry>;
  workQueue: (bus: Bus, settings: PlaneSettings) => Promise<WorkQueue>;
}

/** The modes and their implementations: one line per plane implementation. */
const PRESETS: Record<Planes["mode"], _Preset> = {
  embedded: {
    bus: ({ logger }) => new MemoryBus({ logger }),
    registry: () => new MemoryRegistry(),
    workQueue: () => Promise.resolve(new MemoryWorkQueue()),
  },
  cluster: {
    bus: ({ nats, name, logger }) => connectNatsBus({ ...nats!, name, logger }),
    registry: ({ etcd, logger }) => connectEtcdRegistry({ ...etcd!, logger }),
    workQueue: (bus, { logger }) => jetStreamWorkQueueOn(bus as NatsBus, false, logger),
  },
};

/**
 * Connects the planes: the bus, then the registry (closing the bus when the registry cannot be
 * opened); {@linkcode Planes.close} closes them in reverse order. Naming only one of NATS and etcd
 * is an error: discovery and the request plane must be shared by every process of a cluster, or
 * none.
 *
 * @example
 * ```ts
 * import { connectPlanes } from "./planes_preset.ts";
 * const planes = await connectPlanes({});
 * console.assert(planes.mode === "embedded");
 * await planes.close();
 * ```
 */
export async function connectPlanes(settings: PlaneSettings): Promise<Planes> {
  const mode = _mode(settings);
  const preset = PRESETS[mode];
  const bus = await preset.bus(settings);
  let registry: Registry;
  try {
    registry = await preset.registry(settings);
  } catch (error) {
    await bus.close();
    throw error;
  }
  let workQueue: Promise<WorkQueue> | undefined;
  return {
    mode,
    bus,
    registry,
    workQueue: () => {
      workQueue ??= preset.workQueue(bus, settings).catch((error) => {
        workQueue = undefined;
        throw error;
      });
      return workQueue;
    },
    close: async () => {
      await workQueue?.then((queue) => queue.close(), () => {});
      await registry.close();
      await bus.close();
    },
  };
}

/** Cluster mode when both NATS and etcd are named, embedded when neither is; else an error. */
function _mode({ nats, etcd }: PlaneSettings): Planes["mode"] {
  if (!nats && !etcd) return "embedded";
  if (!nats) {
    throw new Error(
      "etcd is configured but NATS is not: set NATS_SERVER (or the config's nats: key) too",
    );
  }
  if (!etcd) {
    throw new Error(
      "NATS is configured but etcd is not: set ETCD_ENDPOINTS (or the config's etcd: key) too",
    );
  }
  return "cluster";
}
