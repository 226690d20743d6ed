/**
 * Start-up of a mesh process, the composition root (DESIGN.md §2): from a loaded graph and its
 * resolved config, {@linkcode startMesh} picks the components, connects the planes (cluster when
 * NATS and etcd are named, embedded otherwise), builds the runtime, starts each component's
 * instances (in this process, or as supervised child processes) and registers the metrics. It
 * returns the running {@linkcode Mesh}: what the HTTP edge needs (`health`, `ready`, `metrics`,
 * the runtime's clients), and a graceful `stop`.
 *
 * The gateway and the status port sit above this layer: the command (`bin/serve.ts`) starts them
 * on the mesh and {@linkcode Mesh.attach}es them, so that one `stop` closes everything in order.
 *
 * @example
 * ```ts ignore
 * const mesh = await startMesh({ graph, config, env: readEnvironment() });
 * mesh.announce([]);
 * await mesh.stop();
 * ```
 *
 * @module
 */

import type { AnyComponent, Graph } from "../actors/component.ts";
import type { Supervisor } from "../actors/supervisor.ts";
import type { QueueServing } from "../actors/queue_serving.ts";
import type { ResolvedComponent } from "../configs/component_section.ts";
import { type Environment, envValue } from "../configs/environment.ts";
import type { ResolvedConfig } from "../configs/resolve.ts";
import { DEFAULT_ENDPOINT } from "../protocol/names.ts";
import { createLogger, type Logger, type LogLevel } from "../utils/logger.ts";
import { Registry } from "prom-client";
import { selectComponents } from "./component_selection.ts";
import { connectPlanes, type DataPlaneSettings, type Planes } from "./planes_preset.ts";
import type { DataPlaneConfig } from "../configs/data_plane_settings.ts";
import { serveProcesses } from "./process_instances.ts";
import { Runtime } from "./runtime.ts";
import { registerRuntimeMetrics } from "./runtime_metrics.ts";
import { type WorkerDescription, workerName } from "./worker_description.ts";

/** What {@linkcode startMesh} starts. */
export interface MeshSettings {
  /** The loaded graph. */
  graph: Graph;
  /** The graph's config, resolved against the graph's schemas. */
  config: ResolvedConfig;
  /** The namespace (the config file's `namespace:`). Default: the graph's. */
  namespace?: string;
  /**
   * Start only these components. Default: all of the graph. `"worker"`: the graph's worker (the
   * `worker` command without `--component`).
   */
  only?: readonly string[] | "worker";
  /** Instances per started component, overriding `ServiceArgs.workers` (the worker command). */
  instances?: number;
  /** Environment (`MESH_LOG_LEVEL`, `MESH_HOSTNAME`, `MESH_LEASE_TTL_S`). */
  env: Environment;
  /** Log level; beats the config's `log_level` and `MESH_LOG_LEVEL`. */
  logLevel?: LogLevel;
  /** Time in-flight requests get to finish on stop. Default 10 000 ms. */
  graceMs?: number;
  /**
   * How to run `meshwork` for `ServiceArgs.processes`: the program with its leading arguments,
   * and the `--config`, `--graph` and override arguments every child gets (`--log-level` is
   * added). Needed only when a component runs as child processes.
   */
  cli?: { command: readonly string[]; args: readonly string[] };
  /**
   * Status (metrics) port of the first worker started as a child process; the next ones get the
   * following ports, in start order (seed 002: 50000, 50001, 50002). Default: none (the config's
   * `metrics_port_base`, else no status port for children).
   */
  metricsPortBase?: number;
  /** Directory of the child processes' log files (`<name>.log`). Default: their parent's output. */
  logDir?: string;
  /** Extra environment for child processes (the planes `serve` started for them). */
  childEnv?: Readonly<Record<string, string>>;
  /** Told about each worker just before it starts (`serve` prints its effective config). */
  onWorker?: (worker: WorkerDescription) => void;
}

/** What `/health` reports. */
export interface MeshHealth {
  status: "ok";
  namespace: string;
  planes: Planes["mode"];
  hostname: string;
  instances: unknown[];
}

/** Something that stops with the mesh: a gateway or status server. */
export interface Attachable {
  shutdown(): Promise<void>;
}

/** A running mesh process. */
export interface Mesh {
  runtime: Runtime;
  planes: Planes;
  /** The process's Prometheus registry (runtime metrics; the gateway adds its own). */
  metrics: Registry;
  log: Logger;
  /** The started components, in start order. */
  components: readonly AnyComponent[];
  /** The live instances of the graph's components, for `/health`. */
  health(): MeshHealth;
  /** Whether every local actor is running, for `/ready`. */
  ready(): boolean;
  /** Stops `server` together with the mesh, while requests drain and before the planes close. */
  attach(server: Attachable): void;
  /** Logs the one "Meshwork serving" line; `extras` (`gateway on ...`) go before the planes. */
  announce(extras: readonly string[]): void;
  /** Graceful stop: deregister, drain, close. Idempotent. */
  stop(): Promise<void>;
  /** Settles with the error when a supervisor gives up (restart intensity exceeded). */
  fatal: Promise<unknown>;
  /**
   * Settles when every instance of this process has finished by itself (`ctx.done()`, not to be
   * restarted) and no component runs as child processes: nothing is left to do.
   */
  finished: Promise<void>;
}

/** Starts the components of a graph as the settings say; on failure, stops what started. */
export async function startMesh(settings: MeshSettings): Promise<Mesh> {
  const { graph, config } = settings;
  const level = settings.logLevel ?? config.logLevel ?? envValue(settings.env, "MESH_LOG_LEVEL") ??
    "info";
  const log = createLogger({ level });
  const selected = selectComponents(graph, settings.only);
  const leaseTtlSeconds = envValue(settings.env, "MESH_LEASE_TTL_S");
  const planes = await connectPlanes({
    nats: config.nats,
    etcd: config.etcd,
    name: `meshwork:${selected.map((c) => c.name).join(",")}`,
    logger: log,
    dataPlane: dataPlaneSettings(config.dataPlane),
  });
  const runtime = new Runtime({
    bus: planes.bus,
    registry: planes.registry,
    namespace: settings.namespace ?? graph.namespace,
    logger: log,
    hostname: envValue(settings.env, "MESH_HOSTNAME"),
    leaseTtlSeconds,
    workQueue: planes.workQueue,
    dataPlane: planes.dataPlane,
    dataThreshold: config.dataPlane?.threshold,
  });
  const graceMs = settings.graceMs ?? 10_000;
  const processes: Supervisor[] = [];
  const attached: Attachable[] = [];
  const started: string[] = [];
  let reportFatal!: (error: unknown) => void;
  const fatal = new Promise<unknown>((resolve) => (reportFatal = resolve));
  runtime.onFatal(reportFatal);
  const finished = new Promise<void>((resolve) =>
    runtime.onFinished(() => {
      if (processes.length === 0) resolve();
    })
  );
  let stopping: Promise<void> | undefined;
  const mesh: Mesh = {
    runtime,
    planes,
    metrics: new Registry(),
    log,
    components: selected,
    health: () => _health(runtime, graph, planes),
    ready: () => stopping === undefined && runtime.actors.every((actor) => actor.running),
    attach: (server) => void attached.push(server),
    announce: (extras) =>
      log.info(
        `Meshwork serving ${runtime.namespace}: ${started.join(", ")}${
          extras.map((extra) => `; ${extra}`).join("")
        }; ${_describePlanes(planes)}`,
      ),
    stop: () =>
      stopping ??= (async () => {
        log.info("Shutting down: deregistering, then draining in-flight requests", { graceMs });
        await Promise.all([
          runtime.shutdown(graceMs),
          ...attached.map((server) => server.shutdown()),
          ...processes.map((supervisor) => supervisor.stop()),
        ]);
        await planes.close();
        log.info("Stopped");
      })(),
    fatal,
    finished,
  };

  let nextPort = settings.metricsPortBase ?? config.metricsPortBase;
  const describe = (
    c: AnyComponent,
    index: number,
    section: ResolvedComponent,
    mode: WorkerDescription["mode"],
  ): WorkerDescription => ({
    name: workerName(c.name, index),
    component: c.name,
    index,
    mode,
    config: section.values,
    serviceArgs: section.serviceArgs,
  });
  try {
    for (const c of selected) {
      const section = config.components[c.name]!;
      const instances = settings.instances ?? section.workers;
      if (section.serviceArgs.processes && planes.mode === "cluster") {
        const cli = settings.cli;
        if (!cli) throw new TypeError("startMesh: ServiceArgs.processes needs settings.cli");
        processes.push(
          await serveProcesses(c, instances, section.serviceArgs, {
            runtime,
            log,
            graceMs,
            onFatal: reportFatal,
            command: cli.command,
            args: [...cli.args, "--log-level", level],
            env: settings.childEnv,
            worker: (index) => {
              const worker = describe(c, index, section, "process");
              if (nextPort !== undefined) worker.metricsPort = nextPort++;
              if (settings.logDir !== undefined) {
                worker.logFile = `${settings.logDir.replace(/\/+$/, "")}/${worker.name}.log`;
              }
              settings.onWorker?.(worker);
              return { name: worker.name, statusPort: worker.metricsPort, logFile: worker.logFile };
            },
          }),
        );
        started.push(`${c.name} x${instances} (child processes)`);
        continue;
      }
      for (let i = 0; i < instances; i++) {
        settings.onWorker?.(describe(c, i, section, "in_process"));
      }
      await _serveInProcess(runtime, log, c, instances, section);
      started.push(`${c.name} x${instances}`);
    }
    registerRuntimeMetrics(mesh.metrics, { runtime, supervisors: () => processes });
  } catch (error) {
    await mesh.stop().catch(() => {});
    throw error;
  }
  return mesh;
}

/** Starts a component's instances in this process, with its config section. */
async function _serveInProcess(
  runtime: Runtime,
  log: Logger,
  c: AnyComponent,
  instances: number,
  section: ResolvedComponent,
): Promise<void> {
  if (section.serviceArgs.processes) {
    log.warn(
      "ServiceArgs.processes needs cluster mode (NATS and etcd); running the instances in this process",
      { component: c.name },
    );
  }
  await runtime.serve(c, {
    config: section.values,
    instances,
    maxInflight: section.maxInflight,
    restart: section.serviceArgs.restart,
    maxRestarts: section.serviceArgs.max_restarts,
    restartPeriodMs: section.serviceArgs.restart_period_s * 1000,
    queue: queueServing(section),
  });
}

/** The planes preset's data-plane settings from the config's `data_plane:` section. */
export function dataPlaneSettings(config: DataPlaneConfig | undefined): DataPlaneSettings {
  if (!config) return {};
  const { host, port, advertise, secret, ttlS } = config;
  return {
    host,
    port,
    advertise,
    secret,
    ttlMs: ttlS === undefined ? undefined : Math.max(1, Math.round(ttlS * 1000)),
  };
}

/** In-flight jobs of a queue-served instance whose `max_inflight` is 0 (no limit). */
const _QUEUE_MAX_INFLIGHT = 64;

/** How a component's instances serve from the work queue (`ServiceArgs.queue`), if they do. */
export function queueServing(section: ResolvedComponent): QueueServing | undefined {
  const args = section.serviceArgs;
  if (!args.queue) return undefined;
  return {
    maxInflight: section.maxInflight > 0 ? section.maxInflight : _QUEUE_MAX_INFLIGHT,
    maxDeliver: args.max_deliver,
    ackWaitMs: Math.max(1, Math.round(args.ack_wait_s * 1000)),
  };
}

/** The live instances of every component of the graph, as `/health` shows them. */
function _health(runtime: Runtime, graph: Graph, planes: Planes): MeshHealth {
  const instances = graph.components.flatMap((c) =>
    runtime.view({ namespace: runtime.namespace, component: c.name, endpoint: DEFAULT_ENDPOINT })
      .instances
  );
  return {
    status: "ok",
    namespace: runtime.namespace,
    planes: planes.mode,
    hostname: runtime.hostname,
    instances,
  };
}

/** The end of the "Meshwork serving" line: which planes, and where. */
function _describePlanes(planes: Planes): string {
  return planes.mode === "embedded"
    ? "embedded planes (in-process bus and registry; set NATS_SERVER and ETCD_ENDPOINTS for a cluster)"
    : `cluster planes (NATS ${planes.bus.address}, etcd ${planes.registry.address})`;
}
