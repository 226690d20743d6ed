/**
 * What the node telemetry agent reads from the machine ({@linkcode NodeSamplers}): load average,
 * CPU time counters, memory, and the GPUs that `nvidia-smi` reports. {@linkcode systemSamplers}
 * reads them with Deno's `loadavg()`, `systemMemoryInfo()` and `node:os`'s `cpus()`, which need
 * `--allow-sys` ({@linkcode NODE_SYS_PERMISSIONS}; Deno lets only `--allow-all` read `/proc`, so
 * there is no other way in); GPUs through
 * `nvidia-smi --query-gpu=...` only when `--allow-run` grants it and the binary answers. A reading
 * that fails is `undefined` (the metric is then absent, never zero).
 *
 * @example
 * ```ts ignore
 * const samplers = systemSamplers();
 * console.log(samplers.loadAverage()); // [0.42, 0.3, 0.25] (undefined without --allow-sys=loadavg)
 * console.log(await samplers.gpus()); // undefined on a machine without nvidia-smi
 * ```
 *
 * @module
 */

import { cpus } from "node:os";

/** Cumulative CPU time of the whole machine (any unit): idle part and total. */
export interface CpuTimes {
  idle: number;
  total: number;
}

/** Memory of the machine, in bytes. */
export interface MemoryUse {
  used: number;
  total: number;
}

/** One GPU as `nvidia-smi` reports it. */
export interface GpuReading {
  /** The GPU's index (`0`, `1`, ...). */
  gpu: string;
  /** 0..1. */
  utilization: number;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
}

/** The machine readings; each is `undefined` when it cannot be read here. */
export interface NodeSamplers {
  /** Load average over 1, 5 and 15 minutes. */
  loadAverage(): readonly [number, number, number] | undefined;
  /** Cumulative CPU times; utilization is the idle share of the difference of two readings. */
  cpuTimes(): CpuTimes | undefined;
  memory(): MemoryUse | undefined;
  /** Every GPU, or `undefined` when there is no `nvidia-smi` (or it fails). */
  gpus(): Promise<readonly GpuReading[] | undefined>;
}

/** The `--allow-sys` kinds the readings need: `--allow-sys=loadavg,systemMemoryInfo,cpus`. */
export const NODE_SYS_PERMISSIONS: readonly string[] = ["loadavg", "systemMemoryInfo", "cpus"];

/** The kinds of {@linkcode NODE_SYS_PERMISSIONS} this process lacks (and cannot read otherwise). */
export function missingSysPermissions(): string[] {
  return NODE_SYS_PERMISSIONS.filter((kind) =>
    !_granted({ name: "sys", kind: kind as Deno.SysPermissionDescriptor["kind"] })
  );
}

/** How long `nvidia-smi` may take before the reading counts as failed. */
const _GPU_TIMEOUT_MS = 5_000;

/** The `nvidia-smi` query: index, utilization %, memory used and total in MiB. */
export const NVIDIA_SMI_ARGS: readonly string[] = [
  "--query-gpu=index,utilization.gpu,memory.used,memory.total",
  "--format=csv,noheader,nounits",
];

/** The readings of this machine, through Deno's APIs (any OS Deno runs on). */
export function systemSamplers(options: { nvidiaSmi?: string } = {}): NodeSamplers {
  const nvidiaSmi = options.nvidiaSmi ?? "nvidia-smi";
  // Once the binary is missing or the permission denied, it stays so: no spawn every second.
  let gpuAvailable = _granted({ name: "run", command: nvidiaSmi });
  return {
    loadAverage() {
      try {
        if (!_granted({ name: "sys", kind: "loadavg" })) return undefined;
        const [a, b, c] = Deno.loadavg();
        return _finite(a, b, c) ? [a!, b!, c!] : undefined;
      } catch {
        return undefined;
      }
    },
    cpuTimes() {
      try {
        return _granted({ name: "sys", kind: "cpus" }) ? _osCpuTimes(cpus()) : undefined;
      } catch {
        return undefined;
      }
    },
    memory() {
      try {
        if (!_granted({ name: "sys", kind: "systemMemoryInfo" })) return undefined;
        const info = Deno.systemMemoryInfo();
        return { used: info.total - info.available, total: info.total };
      } catch {
        return undefined;
      }
    },
    async gpus() {
      if (!gpuAvailable) return undefined;
      try {
        const out = await new Deno.Command(nvidiaSmi, {
          args: [...NVIDIA_SMI_ARGS],
          stdin: "null",
          stdout: "piped",
          stderr: "null",
          signal: AbortSignal.timeout(_GPU_TIMEOUT_MS),
        }).output();
        if (!out.success) return undefined;
        return parseNvidiaSmi(new TextDecoder().decode(out.stdout));
      } catch (error) {
        if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotCapable) {
          gpuAvailable = false;
        }
        return undefined;
      }
    },
  };
}

/**
 * The GPUs of `nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total
 * --format=csv,noheader,nounits` (`0, 35, 1024, 40960` per line; MiB). A line with a field that
 * is not a number (`[N/A]`) is left out.
 */
export function parseNvidiaSmi(text: string): GpuReading[] {
  const gpus: GpuReading[] = [];
  for (const line of text.split("\n")) {
    const [index, util, used, total] = line.split(",").map((f) => f.trim());
    const numbers = [util, used, total].map(Number);
    if (!index || !_finite(...numbers) || [util, used, total].includes("")) continue;
    gpus.push({
      gpu: index,
      utilization: numbers[0]! / 100,
      memoryUsedBytes: numbers[1]! * 1024 * 1024,
      memoryTotalBytes: numbers[2]! * 1024 * 1024,
    });
  }
  return gpus;
}

/** The machine's CPU times from `node:os`'s `cpus()` (summed over the CPUs). */
function _osCpuTimes(list: ReturnType<typeof cpus>): CpuTimes | undefined {
  if (list.length === 0) return undefined;
  let idle = 0;
  let total = 0;
  for (const { times } of list) {
    idle += times.idle;
    total += times.user + times.nice + times.sys + times.idle + times.irq;
  }
  return { idle, total };
}

function _finite(...values: (number | undefined)[]): boolean {
  return values.every((v) => typeof v === "number" && Number.isFinite(v));
}

/** Whether a permission is granted now, without ever prompting. */
function _granted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}
