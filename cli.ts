/**
 * The `meshwork` command line: `serve`, `worker`, `status`.
 *
 * ```sh
 * deno task serve --config configs/multi_worker.yaml
 * deno task serve --config configs/multi_worker.yaml --only Frontend,Processor --Processor.router=random
 * deno task serve --config configs/encoder_decoder.yaml --initialize-request-plane
 * deno task worker                      # one hello-world Worker (cluster: NATS_SERVER, ETCD_ENDPOINTS)
 * deno task status                      # live instances in etcd
 * ```
 *
 * Errors print as one line (`error: ...`) with exit code 1 (2 for usage errors); never a stack.
 *
 * @module
 */

import { isLogLevel } from "./utils/logger.ts";
import { parseArgs, UsageError } from "./bin/args.ts";
import { runUntilSignalled, serve } from "./bin/serve.ts";
import { formatLocalPlanes, formatWorker, WORKERS_STARTED } from "./bin/worker_banner.ts";
import { status } from "./bin/status.ts";
import { MESHWORK_VERSION } from "./runtime/runtime.ts";
import { readEnvironment } from "./configs/environment.ts";

const USAGE = `meshwork ${MESHWORK_VERSION}: an actor-model microservice mesh

Usage:
  meshwork serve  [--config FILE] [--graph MODULE] [--only A,B] [--initialize-request-plane]
                  [--log-dir DIR] [--metrics-port-base PORT] [--Component.key=value ...]
  meshwork worker [--config FILE] [--graph MODULE] [--component NAME] [--instances N] [...]
  meshwork status [--config FILE] [--namespace NS] [--json]

serve   starts the graph of FILE (default: the hello-world graph). With NATS_SERVER and
        ETCD_ENDPOINTS (or the config's nats:/etcd: keys) it joins a cluster; without, it runs
        everything in this process on the embedded planes.
worker  starts only one component (default: Worker, or the graph's only component that is not
        the HTTP front), one instance unless --instances or the config says more.
status  lists the live instances registered in etcd.

Options:
  -f, --config FILE      YAML config (see configs/*.yaml)
  --graph MODULE         the graph module (beats the config's graph:), e.g.
                         examples/simple_pipeline/routed_pipeline.ts
  --only A,B             start only these components
  --component NAME       (worker) the component to run; default Worker (or the only non-HTTP one)
  --instances N          (worker) instances to start; default 1
  --log-level LEVEL      debug | info | warn | error (also MESH_LOG_LEVEL)
  --grace-ms MS          time in-flight requests get on SIGINT/SIGTERM; default 10000
  --status-port PORT     serve /live, /ready, /health, /metrics there (also MESH_STATUS_PORT)
  --initialize-request-plane
                         (serve) with no NATS / etcd configured, start a nats-server -js and an
                         etcd on free loopback ports for this mesh, and stop them on exit
  --log-dir DIR          (serve) log files of worker processes (<name>.log, e.g. encoder.0.log)
                         and of the servers it starts; default /tmp/meshwork-logs/<serve's PID>
  --metrics-port-base N  (serve) status/metrics port of the first worker process, then N+1, ...
                         in start order (beats the config's metrics_port_base)
  --Component.key=value  override a config key, e.g. --Processor.router=random
`;

function fail(message: string, code: number): never {
  console.error(`error: ${message}`);
  Deno.exit(code);
}

function positiveInt(value: string | boolean | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new UsageError(`--${name} expects a whole number, got "${value}"`);
  }
  return n;
}

function portNumber(value: string | boolean | undefined, name: string): number | undefined {
  const n = positiveInt(value, name);
  if (n !== undefined && (n < 1 || n > 65535)) {
    throw new UsageError(`--${name} expects a port from 1 to 65535, got "${value}"`);
  }
  return n;
}

/** Runs the command line. */
export async function main(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const env = readEnvironment();
  try {
    switch (command) {
      case "serve":
      case "worker": {
        const isWorker = command === "worker";
        const { options, overrides } = parseArgs(rest, {
          valued: isWorker
            ? ["config", "graph", "component", "instances", "log-level", "grace-ms", "status-port"]
            : [
              "config",
              "graph",
              "only",
              "log-level",
              "grace-ms",
              "status-port",
              "log-dir",
              "metrics-port-base",
            ],
          flags: isWorker ? ["help"] : ["help", "initialize-request-plane"],
          aliases: { f: "config", h: "help" },
        });
        if (options.help) return console.log(USAGE);
        const logLevel = options["log-level"];
        if (logLevel !== undefined && !isLogLevel(logLevel)) {
          throw new UsageError(`--log-level expects debug, info, warn or error, got "${logLevel}"`);
        }
        const mesh = await serve({
          configPath: options.config as string | undefined,
          graphPath: options.graph as string | undefined,
          only: isWorker
            ? (options.component ? [options.component as string] : "worker")
            : (options.only as string | undefined)?.split(",").map((s) => s.trim()).filter(Boolean),
          instances: isWorker
            ? positiveInt(options.instances, "instances") ?? (options.config ? undefined : 1)
            : undefined,
          overrides,
          env,
          logLevel: logLevel as never,
          graceMs: positiveInt(options["grace-ms"], "grace-ms"),
          statusPort: positiveInt(options["status-port"], "status-port"),
          ...(isWorker ? { nodeAgent: false } : {
            initializeRequestPlane: options["initialize-request-plane"] === true,
            logDir: (options["log-dir"] as string | undefined) ?? `/tmp/meshwork-logs/${Deno.pid}`,
            metricsPortBase: portNumber(options["metrics-port-base"], "metrics-port-base"),
            onWorker: (worker) => console.log(formatWorker(worker)),
            onLocalPlanes: (planes) => console.log(formatLocalPlanes(planes)),
          }),
        });
        if (!isWorker) console.log(WORKERS_STARTED);
        await runUntilSignalled(mesh);
        return;
      }
      case "status": {
        const { options } = parseArgs(rest, {
          valued: ["config", "namespace"],
          flags: ["json", "help"],
          aliases: { f: "config", h: "help" },
        });
        if (options.help) return console.log(USAGE);
        console.log(
          await status({
            configPath: options.config as string | undefined,
            namespace: options.namespace as string | undefined,
            json: options.json === true,
            env,
          }),
        );
        return;
      }
      case "version":
      case "--version":
        return console.log(MESHWORK_VERSION);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        return console.log(USAGE);
      default:
        throw new UsageError(`Unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(USAGE);
      fail(error.message, 2);
    }
    fail(error instanceof Error ? error.message : String(error), 1);
  }
}

if (import.meta.main) await main(Deno.args);
