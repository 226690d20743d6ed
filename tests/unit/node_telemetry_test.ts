/**
 * The node telemetry agent's metrics (`runtime/node_telemetry.ts`, `runtime/node_samplers.ts`):
 * names and labels of metrics_names.md on this machine, GPU metrics absent without `nvidia-smi`
 * (never zero), CPU utilization from two readings, queue depths, and a timer that stops.
 */

import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { type GpuReading, parseNvidiaSmi, systemSamplers } from "../../runtime/node_samplers.ts";
import { startNodeTelemetry } from "../../runtime/node_telemetry.ts";
import { ManualClock } from "../../utils/clock.ts";
import { findBinary } from "../helpers/binaries.ts";

/** The series of `registry` as `name{labels} value` lines (comments left out). */
async function series(registry: Registry): Promise<string[]> {
  return (await registry.metrics()).split("\n").filter((line) => line && !line.startsWith("#"));
}

Deno.test("on this machine: load average per period, CPU, memory; no GPU series without nvidia-smi", async () => {
  const registry = new Registry();
  const telemetry = await startNodeTelemetry({ registry, hostname: "node1", everyMs: 60_000 });
  try {
    await new Promise((resolve) => setTimeout(resolve, 50)); // some CPU time passes
    await telemetry.sample(); // the second reading gives the CPU utilization
    const lines = await series(registry);
    const names = new Set(lines.map((line) => line.replace(/[{ ].*/, "")));
    for (
      const name of [
        "mesh_node_load_average",
        "mesh_node_cpu_utilization",
        "mesh_node_memory_used_bytes",
        "mesh_node_memory_total_bytes",
      ]
    ) {
      assert.ok(names.has(name), `${name} missing from:\n${lines.join("\n")}`);
    }
    for (const period of ["1m", "5m", "15m"]) {
      assert.ok(
        lines.some((l) => l.startsWith(`mesh_node_load_average{host="node1",period="${period}"}`)),
      );
    }
    const cpu = Number(lines.find((l) => l.startsWith("mesh_node_cpu_utilization"))!.split(" ")[1]);
    assert.ok(cpu >= 0 && cpu <= 1, String(cpu));
    if (!findBinary("nvidia-smi")) {
      assert.ok(!lines.some((l) => l.startsWith("mesh_gpu_")), lines.join("\n"));
    }
  } finally {
    await telemetry.stop();
  }
});

Deno.test("GPU series appear while nvidia-smi answers and disappear (not zero) when it stops", async () => {
  let gpus: GpuReading[] | undefined = parseNvidiaSmi("0, 35, 1024, 40960\n1, 100, 0, 40960\n");
  const registry = new Registry();
  const telemetry = await startNodeTelemetry({
    registry,
    hostname: "gpu1",
    everyMs: 60_000,
    samplers: {
      loadAverage: () => undefined,
      cpuTimes: () => undefined,
      memory: () => undefined,
      gpus: () => Promise.resolve(gpus),
    },
  });
  try {
    assert.deepEqual(await series(registry), [
      'mesh_gpu_utilization{host="gpu1",gpu="0"} 0.35',
      'mesh_gpu_utilization{host="gpu1",gpu="1"} 1',
      'mesh_gpu_memory_used_bytes{host="gpu1",gpu="0"} 1073741824',
      'mesh_gpu_memory_used_bytes{host="gpu1",gpu="1"} 0',
      'mesh_gpu_memory_total_bytes{host="gpu1",gpu="0"} 42949672960',
      'mesh_gpu_memory_total_bytes{host="gpu1",gpu="1"} 42949672960',
    ]);
    gpus = undefined;
    await telemetry.sample();
    assert.deepEqual(await series(registry), []);
  } finally {
    await telemetry.stop();
  }
});

Deno.test("CPU utilization is the busy share between two readings; queue depths by queue; the timer samples and stops", async () => {
  const clock = new ManualClock(0);
  const times = [{ idle: 100, total: 200 }, { idle: 130, total: 300 }, { idle: 230, total: 400 }];
  let reads = 0;
  const depths = new Map([["demo.Worker.generate", 7]]);
  const registry = new Registry();
  const telemetry = await startNodeTelemetry({
    registry,
    hostname: "n",
    everyMs: 1000,
    clock,
    samplers: {
      loadAverage: () => [1, 2, 3],
      cpuTimes: () => times[Math.min(reads++, times.length - 1)],
      memory: () => ({ used: 1, total: 4 }),
      gpus: () => Promise.resolve(undefined),
    },
    queueDepths: () => Promise.resolve(depths),
  });
  try {
    // One reading so far: no utilization yet (absent, not zero).
    assert.ok(!(await series(registry)).some((l) => l.startsWith("mesh_node_cpu_")));
    assert.ok(
      (await series(registry)).includes('mesh_queue_depth{queue="demo.Worker.generate"} 7'),
    );
    clock.advance(1000); // the timer takes the second reading
    await telemetry.sample(); // waits for the one under way
    const line = (await series(registry)).find((l) => l.startsWith("mesh_node_cpu_utilization"));
    assert.equal(line, 'mesh_node_cpu_utilization{host="n"} 0.7'); // 1 - 30/100
    assert.equal(reads, 2);
    await telemetry.stop();
    const before = reads;
    clock.advance(10_000);
    assert.equal(reads, before, "no sample after stop");
  } finally {
    await telemetry.stop();
  }
});

Deno.test("parseNvidiaSmi() reads index, utilization and memory (MiB); skips [N/A] lines", () => {
  assert.deepEqual(parseNvidiaSmi("0, 12, 100, 200\n1, [N/A], 1, 2\n\n"), [
    {
      gpu: "0",
      utilization: 0.12,
      memoryUsedBytes: 100 * 1048576,
      memoryTotalBytes: 200 * 1048576,
    },
  ]);
});

Deno.test("systemSamplers(): no GPU reading when the binary is missing, and no retry after", async () => {
  const samplers = systemSamplers({ nvidiaSmi: "/nonexistent/nvidia-smi" });
  assert.equal(await samplers.gpus(), undefined);
  assert.equal(await samplers.gpus(), undefined);
});
