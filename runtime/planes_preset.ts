/**
 * Chooses the planes at start-up: NATS + etcd when the config or the environment names them
 * (cluster mode), the in-process bus and registry otherwise (embedded mode).
 *
 * @module
 */

import type { Bus } from "../planes/bus.ts";
import type { Logger } from "../utils/logger.ts";
import type { Registry } from "../planes/registry.ts";
import { MemoryBus } from "../planes/memory/memory_bus.ts";
import { MemoryRegistry } from "../planes/memory/memory_registry.ts";
import { connectNatsBus } from "../planes/nats/nats_bus.ts";
import { connectEtcdRegistry } from "../planes/etcd/etcd_registry.ts";
import type { EtcdConfig, NatsConfig } from "../configs/loader.ts";

/** The planes a process runs on. */
export interface Planes {
  mode: "cluster" | "embedded";
  bus: Bus;
  registry: Registry;
  /** Closes both. */
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

/**
 * Connects the planes. Naming only one of NATS and etcd is an error: discovery and the request
 * plane must be shared by every process of a cluster, or none.
 */
export async function connectPlanes(settings: PlaneSettings): Promise<Planes> {
  const { nats, etcd, logger } = settings;
  if (!nats && !etcd) {
    const bus = new MemoryBus({ logger });
    const registry = new MemoryRegistry();
    return {
      mode: "embedded",
      bus,
      registry,
      close: async () => {
        await bus.close();
        await registry.close();
      },
    };
  }
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
  const bus = await connectNatsBus({
    servers: nats.servers,
    user: nats.user,
    pass: nats.pass,
    token: nats.token,
    nkeySeedFile: nats.nkeySeedFile,
    tls: nats.tls,
    name: settings.name,
    logger,
  });
  let registry: Registry;
  try {
    registry = await connectEtcdRegistry({
      endpoints: etcd.endpoints,
      username: etcd.username,
      password: etcd.password,
      tls: etcd.tls,
      logger,
    });
  } catch (error) {
    await bus.close();
    throw error;
  }
  return {
    mode: "cluster",
    bus,
    registry,
    close: async () => {
      await registry.close();
      await bus.close();
    },
  };
}
