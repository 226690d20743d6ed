/**
 * One server process of a test cluster (an etcd member, a NATS server): started from its binary
 * with its output appended to a log file, and stopped by PID. The binary runs through
 * `/bin/sh -c 'exec "$0" "$@" >>"$LOG" 2>&1'`, so the PID is the server's own, never a shell's,
 * and a running server holds no pipe (no pending read) in the test process.
 * {@linkcode ClusterMember.stop} signals it, waits a grace period, then sends SIGKILL.
 *
 * {@linkcode freeLoopbackPort} picks the members' ports, each different from the others.
 *
 * @example
 * ```ts ignore
 * import { ClusterMember, freeLoopbackPort } from "./cluster_member.ts";
 * const taken = new Set<number>();
 * const member = new ClusterMember("n1", "/tmp/n1.log");
 * member.spawn("/usr/sbin/nats-server", ["-p", String(freeLoopbackPort(taken))], "nats-server");
 * await member.stop("SIGINT");
 * console.log(member.output());
 * ```
 *
 * @module
 */

/** How long {@linkcode ClusterMember.stop} waits for an exit before it sends SIGKILL. */
export const STOP_GRACE_MS = 3000;

/** A free loopback port (bound to port 0, read, released), not one of `taken`; adds it there. */
export function freeLoopbackPort(taken: Set<number>): number {
  for (;;) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr as Deno.NetAddr;
    listener.close();
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
}

/** A server process of a cluster, run again and again under one name and one log file. */
export class ClusterMember {
  readonly name: string;
  /** The file every run appends its output to. */
  readonly logPath: string;
  #child: Deno.ChildProcess | undefined;
  #exited: Promise<Deno.CommandStatus> | undefined;
  #gone = false;

  constructor(name: string, logPath: string) {
    this.name = name;
    this.logPath = logPath;
  }

  /** The PID of the running process, `undefined` while it is stopped. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Spawned and not stopped since (it may have exited on its own: see {@linkcode gone}). */
  get started(): boolean {
    return this.#child !== undefined;
  }

  /** The current (or last) run has exited, on its own or stopped. */
  get gone(): boolean {
    return this.#gone;
  }

  /** Started and not exited. */
  get running(): boolean {
    return this.started && !this.#gone;
  }

  /** Everything the member wrote, across runs (`""` before the first). */
  output(): string {
    try {
      return Deno.readTextFileSync(this.logPath);
    } catch {
      return "";
    }
  }

  /**
   * Starts `binary` with `args` (no wait), after a `--- starting <label> <args>` line in the log;
   * does nothing while a run is started.
   */
  spawn(binary: string, args: readonly string[], label: string): void {
    if (this.#child) return;
    Deno.writeTextFileSync(this.logPath, `--- starting ${label} ${args.join(" ")}\n`, {
      append: true,
    });
    // `exec` keeps the process id: the pid we signal is the server's own, never a shell's.
    const child = new Deno.Command("/bin/sh", {
      args: ["-c", 'exec "$0" "$@" >>"$MESHWORK_MEMBER_LOG" 2>&1', binary, ...args],
      env: { MESHWORK_MEMBER_LOG: this.logPath },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#child = child;
    this.#exited = child.status;
    this.#gone = false;
    child.status.then(() => {
      if (this.#child === child) this.#gone = true;
    });
  }

  /**
   * Sends `signal` by PID and waits for the exit, sending SIGKILL after `graceMs`; does nothing
   * when no run is started.
   */
  async stop(signal: Deno.Signal, graceMs = STOP_GRACE_MS): Promise<void> {
    const child = this.#child;
    const exited = this.#exited;
    if (!child || !exited) return;
    const send = (name: Deno.Signal) => {
      try {
        if (!this.#gone) Deno.kill(child.pid, name);
      } catch {
        // already gone
      }
    };
    send(signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((
      resolve,
    ) => (timer = setTimeout(() => resolve("late"), graceMs)));
    const first = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (first === "late") send("SIGKILL");
    await exited;
    this.#child = undefined;
    this.#exited = undefined;
  }
}
