/**
 * `meshwork serve` (and `worker`): reads the config, loads its graph, starts the mesh
 * (`runtime/start_mesh.ts`), then puts the HTTP edge on it: the status port when one is asked
 * for, and the gateway when the HTTP component is among the started ones. The command line
 * (`cli.ts`) parses the flags, calls {@linkcode serve} and {@linkcode runUntilSignalled}.
 *
 * With `initializeRequestPlane` (`--initialize-request-plane`, seed 002) and no NATS or etcd
 * configured, it first starts a `nats-server -js` and an `etcd` of its own
 * (`runtime/local_planes.ts`), runs the mesh on them (its child processes too), and stops them
 * after the mesh.
 *
 * @module
 */

import { resolve } from "node:path";
import type { Graph } from "../actors/component.ts";
import type { ConfigSchema } from "../actors/config_schema.ts";
import { type Environment, envValue } from "../configs/environment.ts";
import { resolveConfig, type ResolvedConfig } from "../configs/resolve.ts";
import { type ConfigDocument, readConfigFile } from "../configs/yaml_document.ts";
import { createGatewayApp } from "../gateway/app.ts";
import { type GatewayServer, serveGateway } from "../gateway/server.ts";
import { type GatewaySettings, withGatewayFields } from "../gateway/settings.ts";
import { serveStatus } from "../gateway/status_server.ts";
import { type LocalPlanes, startLocalPlanes } from "../runtime/local_planes.ts";
import { type Mesh, startMesh } from "../runtime/start_mesh.ts";
import { MeshOverviewSource } from "../runtime/mesh_overview.ts";
import type { WorkerDescription } from "../runtime/worker_description.ts";
import type { LogLevel } from "../utils/logger.ts";
import { loadGraph } from "./load_graph.ts";
import { registerMetricsEndpoints, startNodeAgent } from "./metrics_endpoints.ts";
import { listScrapeTargets } from "../runtime/scrape_targets.ts";
import { MESH_PERMISSIONS } from "./permissions.ts";

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
  /** Environment (see configs/environment.ts): `NATS_*`, `ETCD_*` and `MESH_*`. */
  env: Environment;
  /** Log level; beats the config's `log_level` and `MESH_LOG_LEVEL`. */
  logLevel?: LogLevel;
  /** Time in-flight requests get to finish on stop. Default 10 000 ms. */
  graceMs?: number;
  /**
   * A port for `/live`, `/ready`, `/health` and `/metrics` (`--status-port`, `MESH_STATUS_PORT`),
   * for processes without a gateway; 0 picks a free one. Default: none.
   */
  statusPort?: number;
  /**
   * Start a `nats-server -js` and an `etcd` (whichever is not configured) on free loopback ports
   * for this mesh, and stop them with it (`--initialize-request-plane`).
   */
  initializeRequestPlane?: boolean;
  /** Log files of child processes (`<name>.log`) and of the servers it starts (`--log-dir`). */
  logDir?: string;
  /** Status port of the first child process, then one more each (`--metrics-port-base`). */
  metricsPortBase?: number;
  /** Told about each worker just before it starts. */
  onWorker?: (worker: WorkerDescription) => void;
  /**
   * Run the node telemetry agent when the config has a `telemetry:` section. Default true; the
   * `worker` command (and so every child process of `serve`) says false: one agent per node.
   */
  nodeAgent?: boolean;
  /** Told about the servers `initializeRequestPlane` started, once they serve. */
  onLocalPlanes?: (planes: LocalPlanes) => void;
}

/** A running mesh process, with its HTTP edge. */
export interface RunningMesh extends Mesh {
  gateway?: GatewayServer;
  /** The status port server, when one was asked for. */
  status?: GatewayServer;
  /** The node telemetry agent's server, when it runs (`telemetry:`). */
  telemetry?: GatewayServer;
  /** The NATS and etcd servers it started (`initializeRequestPlane`), stopped after the mesh. */
  localPlanes?: LocalPlanes;
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

/** Starts a mesh process as the settings say. Errors are meant to be printed as their message. */
export async function serve(settings: ServeSettings): Promise<RunningMesh> {
  const doc: ConfigDocument = settings.configPath
    ? await readConfigFile(settings.configPath)
    : { file: "(defaults)", sections: [] };
  const graph = await loadGraph(settings.graphPath ? resolve(settings.graphPath) : doc.graph);
  const resolveWith = (env: Environment) =>
    resolveConfig(doc, graphSchemas(graph), { overrides: settings.overrides, env });
  let config = resolveWith(settings.env);
  let localPlanes: LocalPlanes | undefined;
  let childEnv: Record<string, string> | undefined;
  if (settings.initializeRequestPlane && (!config.nats || !config.etcd)) {
    localPlanes = await startLocalPlanes({
      nats: !config.nats,
      etcd: !config.etcd,
      logDir: settings.logDir,
    });
    settings.onLocalPlanes?.(localPlanes);
    childEnv = {
      ...(localPlanes.natsUrl ? { NATS_SERVER: localPlanes.natsUrl } : {}),
      ...(localPlanes.etcdEndpoint ? { ETCD_ENDPOINTS: localPlanes.etcdEndpoint } : {}),
    };
    try {
      config = resolveWith({ ...settings.env, ...childEnv });
    } catch (error) {
      await localPlanes.stop();
      throw error;
    }
  }
  try {
    return await _serveOn(settings, graph, config, doc.namespace, localPlanes, childEnv);
  } catch (error) {
    await localPlanes?.stop();
    throw error;
  }
}

/** {@linkcode serve} once the config is resolved (and the local planes, if any, are up). */
async function _serveOn(
  settings: ServeSettings,
  graph: Graph,
  config: ResolvedConfig,
  namespace: string | undefined,
  localPlanes: LocalPlanes | undefined,
  childEnv: Record<string, string> | undefined,
): Promise<RunningMesh> {
  const statusPort = settings.statusPort ?? envValue(settings.env, "MESH_STATUS_PORT");
  const mesh = await startMesh({
    graph,
    config,
    namespace,
    only: settings.only,
    instances: settings.instances,
    env: settings.env,
    logLevel: settings.logLevel,
    graceMs: settings.graceMs,
    cli: { command: _meshCommand(), args: _childArgs(settings) },
    metricsPortBase: settings.metricsPortBase,
    logDir: settings.logDir,
    childEnv,
    onWorker: settings.onWorker,
  });
  try {
    const status = statusPort === undefined ? undefined : _serveStatusPort(mesh, statusPort);
    const gateway = _serveFront(mesh, config, settings.env);
    const telemetry = config.telemetry && settings.nodeAgent !== false
      ? await startNodeAgent(mesh, config.telemetry)
      : undefined;
    await registerMetricsEndpoints(mesh, {
      gateway,
      status,
      telemetry,
      advertise: config.metricsAdvertise,
    });
    mesh.announce([
      ...(gateway ? [`gateway on http://${gateway.hostname}:${gateway.port}`] : []),
      ...(status ? [`status on port ${status.port}`] : []),
      ...(telemetry ? [`node telemetry on port ${telemetry.port}`] : []),
    ]);
    if (!localPlanes) return { ...mesh, gateway, status, telemetry };
    const stopMesh = mesh.stop;
    let stopping: Promise<void> | undefined;
    return {
      ...mesh,
      gateway,
      status,
      telemetry,
      localPlanes,
      stop: () =>
        stopping ??= stopMesh().finally(async () => {
          await localPlanes.stop();
          mesh.log.info("Stopped the request plane servers it started", { ...localPlanes.pids });
        }),
    };
  } catch (error) {
    await mesh.stop().catch(() => {});
    throw error;
  }
}

/** Signals closer together than this count as one (see {@linkcode runUntilSignalled}). */
export const SAME_SIGNAL_MS = 500;

/**
 * Resolves once a signal (SIGINT, SIGTERM) has stopped the mesh; a second signal exits at once.
 * The same signal again within {@linkcode SAME_SIGNAL_MS} is the first one delivered twice, not a
 * second: a Ctrl-C in a terminal reaches `serve` both from the terminal and through `deno task`.
 * Rejects, after stopping, when a supervisor gives up, so that a service manager restarts the
 * process.
 */
export function runUntilSignalled(mesh: RunningMesh): Promise<void> {
  return new Promise((resolve, reject) => {
    mesh.fatal.then(async (error) => {
      await mesh.stop().catch(() => {});
      reject(
        new Error(
          `${error instanceof Error ? error.message : String(error)}; stopping so that the ` +
            "service manager can restart the process",
        ),
      );
    });
    mesh.finished.then(() => {
      mesh.log.info("Every instance here has finished its work; exiting");
      mesh.stop().then(resolve, reject);
    });
    let signals = 0;
    let firstAt = 0;
    const onSignal = (signal: Deno.Signal) => {
      if (signals > 0 && performance.now() - firstAt < SAME_SIGNAL_MS) return;
      if (++signals === 1) firstAt = performance.now();
      if (signals > 1) {
        mesh.log.warn("Second signal: exiting now", { signal });
        // The servers `--initialize-request-plane` started must not outlive us.
        for (const pid of Object.values(mesh.localPlanes?.pids ?? {})) {
          try {
            if (pid !== undefined) Deno.kill(pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
        Deno.exit(1);
      }
      mesh.log.info("Signal received", { signal });
      mesh.stop().then(resolve, (error) => {
        mesh.log.error("Stop failed", { error });
        Deno.exit(1);
      });
    };
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => onSignal(signal));
    }
  });
}

/** Serves `/live`, `/ready`, `/health` and `/metrics` on `port`, stopping with the mesh. */
function _serveStatusPort(mesh: Mesh, port: number): GatewayServer {
  const server = serveStatus({
    port,
    ready: mesh.ready,
    health: mesh.health,
    registry: mesh.metrics,
  });
  mesh.attach(server);
  return server;
}

/** Puts the gateway in front of the started HTTP component, if there is one. */
function _serveFront(
  mesh: Mesh,
  config: ResolvedConfig,
  env: Environment,
): GatewayServer | undefined {
  const front = mesh.components.find((c) => c.http);
  if (!front) return undefined;
  // Its child processes serve the gateway themselves (`worker --component <front>`).
  if (config.components[front.name]!.serviceArgs.processes && mesh.planes.mode === "cluster") {
    return undefined;
  }
  const values = config.components[front.name]!.values as unknown as GatewaySettings;
  const client = mesh.runtime.client(front);
  const overviews = new MeshOverviewSource(mesh.runtime);
  const app = createGatewayApp({
    generate: (body, ctx) =>
      client.generate(body, {
        requestId: ctx.requestId,
        deadline: ctx.deadline,
        signal: ctx.signal,
      }),
    health: mesh.health,
    ready: mesh.ready,
    maxBodyBytes: values.max_body_bytes,
    bodyTimeoutMs: values.body_timeout_ms,
    requestTimeoutMs: values.request_timeout_ms,
    apiKeys: [...values.api_keys, ...envValue(env, "MESH_API_KEYS") ?? []],
    logger: mesh.log.child({ component: "gateway" }),
    metricsRegistry: mesh.metrics,
    scrapeTargets: () => listScrapeTargets(mesh.runtime.registry, mesh.runtime.namespace),
    overview: () => overviews.latest(),
  });
  const server = serveGateway(app, { port: values.port, hostname: values.host });
  mesh.attach(server);
  return server;
}

/** The arguments every child process gets: config, graph and overrides, as given. */
function _childArgs(settings: ServeSettings): string[] {
  return [
    ...(settings.configPath ? ["--config", settings.configPath] : []),
    ...(settings.graphPath ? ["--graph", settings.graphPath] : []),
    ...(settings.overrides ?? []),
  ];
}

const CLI = new URL("../cli.ts", import.meta.url);

/** The command that runs `meshwork`: this binary, or Deno with the CLI and its flags. */
function _meshCommand(): string[] {
  const compiled = CLI.protocol !== "file:" || CLI.pathname.includes("/deno-compile-");
  return compiled ? [Deno.execPath()] : [Deno.execPath(), "run", ...MESH_PERMISSIONS, CLI.pathname];
}
