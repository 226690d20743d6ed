/**
 * CPU time of processes from `/proc/<pid>/stat` (fields 14 `utime` and 15 `stime`, in clock
 * ticks, all threads), and a description of the machine.
 *
 * @module
 */

/** Clock ticks per second (`getconf CLK_TCK`; 100 when it cannot be read). */
export function clockTicks(): number {
  try {
    const out = new Deno.Command("getconf", { args: ["CLK_TCK"] }).outputSync();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/** `utime + stime` of `pid` in clock ticks, or NaN when it is gone. */
export function cpuTicks(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

/** The program a PID runs (`/proc/<pid>/cmdline`, argv[0]'s base name), e.g. `deno`. */
export function programOf(pid: number): string {
  try {
    const argv0 = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0")[0] ?? "";
    return argv0.slice(argv0.lastIndexOf("/") + 1);
  } catch {
    return "?";
  }
}

/** Cores and CPU model, e.g. `2 cores, AMD EPYC 7B13`. */
export function machine(): { cores: number; cpu: string; hostname: string } {
  let cpu = "unknown CPU";
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux
  }
  return { cores: navigator.hardwareConcurrency, cpu, hostname: Deno.hostname() };
}
