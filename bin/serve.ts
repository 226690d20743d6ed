/**
 * `meshwork serve`: loads a config and its graph, connects the planes (cluster when NATS and etcd
 * are named, embedded otherwise), starts the chosen components and, when the HTTP component is
 * among them, the gateway in front of it.
 *
 * @module
 */

import type { AnyComponent, Graph } from "../actors/component.ts";
import { createLogger, isLogLevel, type Logger, type LogLevel } from "../utils/logger.ts";
import { DEFAULT_ENDPOINT } from "../protocol/names.ts";
import { connectPlanes, type Planes } from "../runtime/planes_preset.ts";
import { Runtime } from "../runtime/runtime.ts";
import {
  type ConfigDocument,
  ConfigError,
  readConfigFile,
  resolveConfig,
  type ServiceArgs,
} from "../configs/loader.ts";
import type { ConfigSchema } from "../actors/config_schema.ts";
import { createGatewayApp } from "../gateway/app.ts";
import { type GatewayServer, serveGateway } from "../gateway/server.ts";
import { type GatewaySettings, withGatewayFields } from "../gateway/settings.ts";
import { Supervisor } from "../actors/supervisor.ts";
import { registerRuntimeMetrics } from "../runtime/runtime_metrics.ts";
import { serveStatus } from "../gateway/status_server.ts";
import { Registry } from "prom-client";
import { instanceProcess } from "./instance_process.ts";
import type { InstanceInfo } from "../router/instance_view.ts";
import { loadGraph } from "./load_graph.ts";
import { resolve } from "node:path";

/** What `serve` needs to know. */
export interface ServeSettings {
  /** The config file; without one, the built-in hello-world graph with its defaults. */
  configPath?: string;
  /** The graph module, beating the config's `graph:` (`--graph`). */
  graphPath?: string;
  /**
   * Start only these components (`--only Frontend,Processor`). Default: all of the graph.
   * `"worker"`: the graph's worker (the `worker` command without `--component`).
   */
  only?: string[] | "worker";
  /** `--Component.key=value` overrides. */
  overrides?: string[];
  /** Instances per started component, overriding `ServiceArgs.workers` (the worker command). */
  instances?: number;
  /** Environment (`NATS_SERVER`, `ETCD_ENDPOINTS`, `MESH_LOG_LEVEL`, `MESH_HOSTNAME`). */
  env: Record<string, string | undefined>;
  /** Log level; beats the config's `log_level` and `MESH_LOG_LEVEL`. */
  logLevel?: LogLevel;
  /** Time in-flight requests get to finish on stop. Default 10 000 ms. */
  graceMs?: number;
  /**
   * A port for `/live`, `/ready`, `/health` and `/metrics` (`--status-port`, `MESH_STATUS_PORT`),
   * for processes without a gateway; 0 picks a free one. Default: none.
   */
  statusPort?: number;
}

/** A running mesh process. */
export interface RunningMesh {
  runtime: Runtime;
  planes: Planes;
  gateway?: GatewayServer;
  /** The status port server, when one was asked for. */
  status?: GatewayServer;
  /** The process's Prometheus registry (runtime and gateway metrics). */
  metrics: Registry;
  log: Logger;
  /** Graceful stop: deregister, drain, close. Idempotent. */
  stop(): Promise<void>;
  /** Settles with the error when a supervisor gives up (restart intensity exceeded). */
  fatal: Promise<unknown>;
}

/**
 * The config schema of every component of a graph; the component the gateway fronts
 * (`http: true`) also gets the gateway's fields (`port`, `host`, limits, `api_keys`).
 */
export function graphSchemas(graph: Graph): Record<string, ConfigSchema> {
  const schemas: Record<string, ConfigSchema> = {};
  for (const c of graph.components) {
    const schema: ConfigSchema = c.config ?? { fields: {} };
    schemas[c.name] = c.http ? { ...schema, fields: withGatewayFields(schema.fields) } : schema;
  }
  return schemas;
}

/** The component `worker` runs by default: `Worker`, else the graph's only non-HTTP component. */
function defaultWorker(graph: Graph): string {
  const names = graph.components.map((c) => c.name);
  if (names.includes("Worker")) return "Worker";
  const candidates = graph.components.filter((c) => !c.http).map((c) => c.name);
  if (candidates.length === 1) return candidates[0]!;
  throw new ConfigError(
    `worker: name the component with --component; the graph has ${names.join(", ")}`,
  );
}

/** Components in start order: each after the components it depends on. */
function startOrder(graph: Graph): AnyComponent[] {
  const ordered: AnyComponent[] = [];
  const visit = (c: AnyComponent, path: string[]) => {
    if (ordered.includes(c)) return;
    if (path.includes(c.name)) {
      throw new TypeError(`The graph has a dependency cycle: ${[...path, c.name].join(" → ")}`);
    }
    for (const dep of Object.values<AnyComponent>(c.depends ?? {})) {
      visit(dep, [...path, c.name]);
    }
    ordered.push(c);
  };
  for (const c of graph.components) visit(c, []);
  return ordered;
}

/** Starts a mesh process as the settings say. Errors are meant to be printed as their message. */
export async function serve(settings: ServeSettings): Promise<RunningMesh> {
  const doc: ConfigDocument = settings.configPath
    ? await readConfigFile(settings.configPath)
    : { file: "(defaults)", sections: [] };
  const graph = await loadGraph(settings.graphPath ? resolve(settings.graphPath) : doc.graph);
  const schemas = graphSchemas(graph);
  const config = resolveConfig(doc, schemas, {
    overrides: settings.overrides,
    env: settings.env,
  });
  const envLevel = settings.env.MESH_LOG_LEVEL;
  const level = settings.logLevel ?? config.logLevel ?? (isLogLevel(envLevel) ? envLevel : "info");
  const log = createLogger({ level });

  const names = new Set(graph.components.map((c) => c.name));
  const only = settings.only === "worker" ? [defaultWorker(graph)] : settings.only;
  for (const name of only ?? []) {
    if (!names.has(name)) {
      throw new ConfigError(
        `--only: unknown component "${name}"; the graph has ${[...names].join(", ")}`,
      );
    }
  }
  const selected = startOrder(graph).filter((c) => !only || only.includes(c.name));
  const namespace = doc.namespace ?? graph.namespace;

  const leaseTtlSeconds = envNumber("MESH_LEASE_TTL_S", settings.env.MESH_LEASE_TTL_S, 1, 3600);
  const statusPort = settings.statusPort ?? envPort(settings.env.MESH_STATUS_PORT);
  const planes = await connectPlanes({
    nats: config.nats,
    etcd: config.etcd,
    name: `meshwork:${selected.map((c) => c.name).join(",")}`,
    logger: log,
  });
  const runtime = new Runtime({
    bus: planes.bus,
    registry: planes.registry,
    namespace,
    logger: log,
    hostname: settings.env.MESH_HOSTNAME || undefined,
    leaseTtlSeconds,
  });
  let gateway: GatewayServer | undefined;
  let statusServer: GatewayServer | undefined;
  const metrics = new Registry();
  let reportFatal!: (error: unknown) => void;
  const fatal = new Promise<unknown>((resolve) => (reportFatal = resolve));
  runtime.onFatal(reportFatal);
  const processes: Supervisor[] = [];
  let stopping: Promise<void> | undefined;
  const graceMs = settings.graceMs ?? 10_000;
  const stop = () =>
    stopping ??= (async () => {
      log.info("Shutting down: deregistering, then draining in-flight requests", { graceMs });
      await Promise.all([
        runtime.shutdown(graceMs),
        gateway?.shutdown(),
        statusServer?.shutdown(),
        ...processes.map((supervisor) => supervisor.stop()),
      ]);
      await planes.close();
      log.info("Stopped");
    })();

  try {
    const started: string[] = [];
    for (const c of selected) {
      const section = config.components[c.name]!;
      const instances = settings.instances ?? section.workers;
      const args = section.serviceArgs;
      if (args.processes && planes.mode === "cluster") {
        processes.push(
          await serveProcesses(c, instances, args, {
            runtime,
            log,
            graceMs,
            onFatal: reportFatal,
            args: [
              ...(settings.configPath ? ["--config", settings.configPath] : []),
              ...(settings.graphPath ? ["--graph", settings.graphPath] : []),
              ...(settings.overrides ?? []),
              "--log-level",
              level,
            ],
          }),
        );
        started.push(`${c.name} x${instances} (child processes)`);
        continue;
      }
      if (args.processes) {
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
      });
      started.push(`${c.name} x${instances}`);
    }
    registerRuntimeMetrics(metrics, { runtime, supervisors: () => processes });
    if (statusPort !== undefined) {
      statusServer = serveStatus({
        port: statusPort,
        ready: () => runtime.actors.every((actor) => actor.running),
        health: () => health(runtime, graph, planes),
        registry: metrics,
      });
    }
    const front = selected.find((c) => c.http);
    if (front) {
      const values = config.components[front.name]!.values as unknown as GatewaySettings;
      const apiKeys = [...values.api_keys, ...splitList(settings.env.MESH_API_KEYS)];
      const client = runtime.client(front);
      const app = createGatewayApp({
        generate: (body, ctx) =>
          client.generate(body, {
            requestId: ctx.requestId,
            deadline: ctx.deadline,
            signal: ctx.signal,
          }),
        health: () => health(runtime, graph, planes),
        ready: () => runtime.actors.every((actor) => actor.running),
        maxBodyBytes: values.max_body_bytes,
        bodyTimeoutMs: values.body_timeout_ms,
        requestTimeoutMs: values.request_timeout_ms,
        apiKeys,
        logger: log.child({ component: "gateway" }),
        metricsRegistry: metrics,
      });
      gateway = serveGateway(app, { port: values.port, hostname: values.host });
    }
    const where = planes.mode === "embedded"
      ? "embedded planes (in-process bus and registry; set NATS_SERVER and ETCD_ENDPOINTS for a cluster)"
      : `cluster planes (NATS ${planes.bus.address}, etcd ${planes.registry.address})`;
    log.info(
      `Meshwork serving ${namespace}: ${started.join(", ")}${
        gateway ? `; gateway on http://${gateway.hostname}:${gateway.port}` : ""
      }${statusServer ? `; status on port ${statusServer.port}` : ""}; ${where}`,
    );
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  return { runtime, planes, gateway, status: statusServer, metrics, log, stop, fatal };
}

function health(runtime: Runtime, graph: Graph, planes: Planes) {
  const instances: InstanceInfo[] = [];
  for (const c of graph.components) {
    const view = runtime.view({
      namespace: runtime.namespace,
      component: c.name,
      endpoint: DEFAULT_ENDPOINT,
    });
    instances.push(...view.instances);
  }
  return {
    status: "ok",
    namespace: runtime.namespace,
    planes: planes.mode,
    hostname: runtime.hostname,
    instances,
  };
}

function splitList(text: string | undefined): string[] {
  return (text ?? "").split(",").map((item) => item.trim()).filter(Boolean);
}

/** Runs a component's instances as supervised child processes (cluster mode). */
async function serveProcesses(
  c: AnyComponent,
  instances: number,
  args: ServiceArgs,
  context: {
    runtime: Runtime;
    log: Logger;
    graceMs: number;
    args: string[];
    onFatal(error: unknown): void;
  },
): Promise<Supervisor> {
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") {
    throw new Error(
      `${c.name}.ServiceArgs.processes needs permission to start processes: run serve with ` +
        "--allow-run (deno task serve has it)",
    );
  }
  const endpoint = Object.keys(c.endpoints ?? {})[0] ?? DEFAULT_ENDPOINT;
  const view = context.runtime.view({
    namespace: context.runtime.namespace,
    component: c.name,
    endpoint,
  });
  await view.start();
  const supervisor = new Supervisor(
    `${c.name} processes`,
    Array.from({ length: instances }, (_, i) =>
      instanceProcess(i + 1, {
        component: c.name,
        args: context.args,
        view,
        restart: args.restart,
        log: context.log,
        graceMs: context.graceMs,
      })),
    {
      intensity: args.max_restarts,
      periodMs: args.restart_period_s * 1000,
      logger: context.log,
    },
  );
  await supervisor.start();
  supervisor.exited.then((exit) => {
    if (!exit.normal) context.onFatal(exit.error);
  });
  return supervisor;
}

function envPort(text: string | undefined): number | undefined {
  return envNumber("MESH_STATUS_PORT", text, 0, 65535);
}

/** A whole number from the environment, or `undefined` when unset; bad values name the variable. */
function envNumber(
  name: string,
  text: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (text === undefined || text === "") return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}
