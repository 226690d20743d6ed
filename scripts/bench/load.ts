/**
 * One load run with `wrk` (Debian package `wrk`): `POST /generate` with the hello-world body, a
 * 1 s warm-up, then the measured run, whose figures a Lua `done()` hook prints as one JSON line
 * (exact percentiles from wrk's histogram, every error class).
 *
 * @module
 */

import { findBinary } from "../../tests/helpers/binaries.ts";

/** The request body every scenario gets. */
export const BODY = JSON.stringify({ prompt: "test prompt", request_id: "id_number" });

/** What one measured wrk run saw. */
export interface LoadFigures {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx/3xx answers (wrk counts status > 399) plus socket errors (connect, read, write, timeout). */
  errors: number;
}

const MARK = "BENCH_JSON ";

function luaScript(): string {
  const lua = (s: string) => JSON.stringify(s); // a JSON string is a valid Lua string literal here
  return `wrk.method = "POST"
wrk.body = ${lua(BODY)}
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '${MARK}{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
`;
}

/** A wrk driver bound to one Lua script in a temporary directory. */
export class Wrk implements AsyncDisposable {
  readonly #binary: string;
  readonly #dir: string;
  readonly #script: string;

  private constructor(binary: string, dir: string) {
    this.#binary = binary;
    this.#dir = dir;
    this.#script = `${dir}/post.lua`;
    Deno.writeTextFileSync(this.#script, luaScript());
  }

  /** Finds wrk and writes the script; throws with the package to install when it is missing. */
  static async create(): Promise<Wrk> {
    const binary = findBinary("wrk");
    if (!binary) throw new Error('bench needs "wrk": apt-get install -y wrk');
    return new Wrk(binary, await Deno.makeTempDir({ prefix: "meshwork-bench-" }));
  }

  #args(port: number, concurrency: number, seconds: number): string[] {
    return [
      `-t${Math.min(2, concurrency)}`,
      `-c${concurrency}`,
      `-d${seconds}s`,
      "--timeout",
      "5s",
      "-s",
      this.#script,
      `http://127.0.0.1:${port}/generate`,
    ];
  }

  /** Load that is not measured: `seconds` of it, for the JIT to settle before measuring. */
  async warm(port: number, concurrency: number, seconds: number): Promise<void> {
    await new Deno.Command(this.#binary, {
      args: this.#args(port, concurrency, seconds),
      stdout: "null",
      stderr: "null",
    }).output();
  }

  /**
   * Warms up for 1 s, then calls `before()`, runs the measured load for `seconds` and calls
   * `after()` as soon as wrk exits (the CPU samples around the measured run).
   */
  async run(
    port: number,
    concurrency: number,
    seconds: number,
    hooks: { before(): void; after(): void; onStart?(pid: number): void },
  ): Promise<LoadFigures> {
    await this.warm(port, concurrency, 1);
    hooks.before();
    const child = new Deno.Command(this.#binary, {
      args: this.#args(port, concurrency, seconds),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    hooks.onStart?.(child.pid);
    const out = await child.output();
    hooks.after();
    const text = new TextDecoder().decode(out.stdout);
    const line = text.split("\n").find((l) => l.startsWith(MARK));
    if (!out.success || !line) {
      throw new Error(`wrk failed (${out.code}): ${text}${new TextDecoder().decode(out.stderr)}`);
    }
    const j = JSON.parse(line.slice(MARK.length));
    const durationS = j.duration_us / 1e6;
    return {
      requests: j.requests,
      durationS,
      rps: j.requests / durationS,
      p50Ms: j.p50_us / 1000,
      p99Ms: j.p99_us / 1000,
      errors: j.connect + j.read + j.write + j.status + j.timeout,
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
