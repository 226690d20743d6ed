/**
 * The node telemetry agent's metrics (seed 004's telemetry workers): every `everyMs` it samples
 * the machine ({@linkcode NodeSamplers}) and the process's work queues, and sets gauges on its
 * own prom-client registry, which the agent's status port serves (`bin/node_agent.ts`):
 *
 * | metric | labels | what |
 * |---|---|---|
 * | `mesh_node_load_average` | `host`, `period` (`1m`, `5m`, `15m`) | load average |
 * | `mesh_node_cpu_utilization` | `host` | 0..1 over the last sampling interval |
 * | `mesh_node_memory_used_bytes`, `mesh_node_memory_total_bytes` | `host` | memory |
 * | `mesh_gpu_utilization` | `host`, `gpu` | 0..1, only where `nvidia-smi` answers |
 * | `mesh_gpu_memory_used_bytes`, `mesh_gpu_memory_total_bytes` | `host`, `gpu` | likewise |
 * | `mesh_queue_depth` | `queue` | jobs stored and not yet acknowledged |
 *
 * A reading that fails leaves its metric absent (no series), never zero. The timer is unref'd
 * and cleared by {@linkcode NodeTelemetry.stop}.
 *
 * @example
 * ```ts ignore
 * const registry = new Registry();
 * const telemetry = await startNodeTelemetry({ registry, hostname: "node1", everyMs: 1000 });
 * console.log(await registry.metrics()); // mesh_node_load_average{host="node1",period="1m"} 0.42 ...
 * await telemetry.stop();
 * ```
 *
 * @module
 */

import { Gauge, type Registry } from "prom-client";
import { type Clock, systemClock, type TimerId } from "../utils/clock.ts";
import { type Logger, silentLogger } from "../utils/logger.ts";
import { type CpuTimes, type NodeSamplers, systemSamplers } from "./node_samplers.ts";

/** Options of {@linkcode startNodeTelemetry}. */
export interface NodeTelemetryOptions {
  /** Where the gauges go (the agent's own registry). */
  registry: Registry;
  /** The `host` label. */
  hostname: string;
  /** Time between two samples. Default 1000 ms. */
  everyMs?: number;
  /** The machine readings. Default: {@linkcode systemSamplers}. */
  samplers?: NodeSamplers;
  /** Depth of each work queue in use in the namespace (`Runtime.queueDepths`). Default: none. */
  queueDepths?: () => Promise<ReadonlyMap<string, number>>;
  clock?: Clock;
  logger?: Logger;
}

/** A running sampler. */
export interface NodeTelemetry {
  /** Takes one sample now (the timer calls it; tests may too). */
  sample(): Promise<void>;
  /** Stops sampling; waits for a sample under way. Idempotent. */
  stop(): Promise<void>;
}

const _PERIODS = ["1m", "5m", "15m"] as const;

/** Registers the node gauges on `options.registry`, takes a first sample, and samples on. */
export async function startNodeTelemetry(options: NodeTelemetryOptions): Promise<NodeTelemetry> {
  const { registry, hostname: host } = options;
  const samplers = options.samplers ?? systemSamplers();
  const clock = options.clock ?? systemClock;
  const log = options.logger ?? silentLogger;
  const everyMs = options.everyMs ?? 1000;
  if (!(everyMs > 0)) throw new RangeError(`Sampling period must be positive, got ${everyMs}`);
  const gauge = (name: string, help: string, labelNames: string[]) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const load = gauge("mesh_node_load_average", "Load average of the node", ["host", "period"]);
  const cpu = gauge(
    "mesh_node_cpu_utilization",
    "CPU utilization of the node over the last sampling interval (0..1)",
    ["host"],
  );
  const memUsed = gauge("mesh_node_memory_used_bytes", "Memory in use (total - available)", [
    "host",
  ]);
  const memTotal = gauge("mesh_node_memory_total_bytes", "Memory of the node", ["host"]);
  const gpuUtil = gauge("mesh_gpu_utilization", "GPU utilization (0..1), from nvidia-smi", [
    "host",
    "gpu",
  ]);
  const gpuUsed = gauge("mesh_gpu_memory_used_bytes", "GPU memory in use, from nvidia-smi", [
    "host",
    "gpu",
  ]);
  const gpuTotal = gauge("mesh_gpu_memory_total_bytes", "GPU memory, from nvidia-smi", [
    "host",
    "gpu",
  ]);
  const queueDepth = gauge(
    "mesh_queue_depth",
    "Jobs stored in a work queue and not yet acknowledged",
    ["queue"],
  );

  let previousCpu: CpuTimes | undefined;
  const sampleOnce = async () => {
    const [loadAvg, cpuTimes, memory, gpus, depths] = await Promise.all([
      samplers.loadAverage(),
      samplers.cpuTimes(),
      samplers.memory(),
      samplers.gpus(),
      options.queueDepths?.().catch((error) => {
        log.debug("Cannot read the work queues' depths", { error });
        return undefined;
      }),
    ]);
    load.reset();
    if (loadAvg) _PERIODS.forEach((period, i) => load.set({ host, period }, loadAvg[i]!));
    cpu.reset();
    if (cpuTimes && previousCpu && cpuTimes.total > previousCpu.total) {
      const idle = (cpuTimes.idle - previousCpu.idle) / (cpuTimes.total - previousCpu.total);
      cpu.set({ host }, Math.min(1, Math.max(0, 1 - idle)));
    }
    previousCpu = cpuTimes;
    memUsed.reset();
    memTotal.reset();
    if (memory) {
      memUsed.set({ host }, memory.used);
      memTotal.set({ host }, memory.total);
    }
    for (const g of [gpuUtil, gpuUsed, gpuTotal]) g.reset();
    for (const reading of gpus ?? []) {
      const labels = { host, gpu: reading.gpu };
      gpuUtil.set(labels, reading.utilization);
      gpuUsed.set(labels, reading.memoryUsedBytes);
      gpuTotal.set(labels, reading.memoryTotalBytes);
    }
    queueDepth.reset();
    for (const [queue, depth] of depths ?? []) queueDepth.set({ queue }, depth);
  };

  let timer: TimerId | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;
  const sample = () =>
    running ??= sampleOnce()
      .catch((error) => log.warn("Node telemetry sample failed", { error }))
      .finally(() => (running = undefined));
  const schedule = () => {
    if (stopped) return;
    timer = clock.setTimeout(() => void sample().then(schedule), everyMs);
    clock.unref?.(timer);
  };
  await sample();
  schedule();
  return {
    sample,
    async stop() {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      await running;
    },
  };
}
