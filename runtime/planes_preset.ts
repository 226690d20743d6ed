/**
 * Chooses the planes at start-up: NATS + etcd (+ JetStream for the work queue, TCP for the data
 * plane) when the config or the environment names them (cluster mode), the in-process bus,
 * registry, work queue and data plane otherwise (embedded mode).
 *
 * A preset, in Hono's style: {@linkcode PRESETS} maps each mode to the factories of its bus,
 * registry, work queue and data plane, so a new plane implementation is one folder under
 * `planes/` plus one line here.
 *
 * The work queue opens on first use ({@linkcode Planes.workQueue}): in cluster mode it is
 * JetStream on the bus's own NATS connection, so a `nats-server` without `-js` still serves every
 * graph that no component serves from a queue. The data plane too ({@linkcode Planes.dataPlane}):
 * in cluster mode a `TcpDataPlane` listening on `data_plane.host:port`, so a process whose
 * handlers never use `ctx.data` opens no port.
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
import type { DataPlane } from "../planes/data_plane.ts";
import { MemoryDataPlane } from "../planes/memory/memory_data_plane.ts";
import { TcpDataPlane } from "../planes/tcp/tcp_data_plane.ts";

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
  /**
   * The data plane, made on the first call (and again after a failed one): a `TcpDataPlane` in
   * cluster mode (throws when its port cannot be bound), a `MemoryDataPlane` in embedded mode.
   */
  dataPlane: () => DataPlane;
  /** Closes the data plane and the work queue (when opened), the registry, then the bus. */
  close(): Promise<void>;
}

/** Where the planes are: both set for cluster mode, neither for embedded mode. */
export interface PlaneSettings {
  nats?: NatsConfig;
  etcd?: EtcdConfig;
  /** A name for the NATS connection (shows in `nats-server` monitoring). */
  name?: string;
  logger?: Logger;
  /** Where and how the data plane listens (`data_plane:`); every key has a default. */
  dataPlane?: DataPlaneSettings;
}

/**
 * The data plane's settings: the config's `data_plane:` section, with `MESH_DATA_SECRET` and
 * `MESH_DATA_ADVERTISE` applied.
 */
export interface DataPlaneSettings {
  /** Interface the TCP plane listens on. Default `0.0.0.0`. */
  host?: string;
  /** Port it listens on. Default 0: a free one. */
  port?: number;
  /**
   * Host its descriptors name, which the other nodes must reach. Default: `host`, or, when that
   * is every interface, the machine's first non-loopback IPv4 address.
   */
  advertise?: string;
  /** Pulls of this process's payloads must present it, and this process's pulls do. */
  secret?: string;
  /** How long a payload is held when nobody pulls it, in ms. Default 60 000. */
  ttlMs?: number;
}

/** Opens one plane from the settings (its section is there when its mode is chosen). */
type _Factory<T> = (settings: PlaneSettings) => T | Promise<T>;

/** The implementations a mode runs on. */
interface _Preset {
  bus: _Factory<Bus>;
  registry: _Factory<Registry>;
  workQueue: (bus: Bus, settings: PlaneSettings) => Promise<WorkQueue>;
  dataPlane: (settings: DataPlaneSettings) => DataPlane;
}

/** The modes and their implementations: one line per plane implementation. */
const PRESETS: Record<Planes["mode"], _Preset> = {
  embedded: {
    bus: ({ logger }) => new MemoryBus({ logger }),
    registry: () => new MemoryRegistry(),
    workQueue: () => Promise.resolve(new MemoryWorkQueue()),
    dataPlane: ({ secret, ttlMs }) => new MemoryDataPlane({ secret, ttlMs }),
  },
  cluster: {
    bus: ({ nats, name, logger }) => connectNatsBus({ ...nats!, name, logger }),
    registry: ({ etcd, logger }) => connectEtcdRegistry({ ...etcd!, logger }),
    workQueue: (bus, { logger }) => jetStreamWorkQueueOn(bus as NatsBus, false, logger),
    dataPlane: ({ host, port, advertise, secret, ttlMs }) =>
      new TcpDataPlane({ hostname: host ?? "0.0.0.0", port: port ?? 0, advertise, secret, ttlMs }),
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
  let dataPlane: DataPlane | undefined;
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
    dataPlane: () => {
      if (!dataPlane) {
        const options = settings.dataPlane ?? {};
        dataPlane = preset.dataPlane(options);
        settings.logger?.info(`Data plane ${dataPlane.kind} at ${dataPlane.address}`);
        const wildcard = options.host === undefined || options.host === "0.0.0.0";
        if (
          mode === "cluster" && wildcard && !options.advertise && /^127\./.test(dataPlane.address)
        ) {
          settings.logger?.warn(
            `The data plane advertises ${dataPlane.address}, which other hosts cannot reach: ` +
              "set data_plane.advertise or MESH_DATA_ADVERTISE (or allow " +
              "--allow-sys=networkInterfaces, so that it finds this host's address itself)",
          );
        }
      }
      return dataPlane;
    },
    close: async () => {
      await dataPlane?.close();
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
