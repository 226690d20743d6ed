/**
 * `deno task client`: a load client for `POST /generate` (seed 002's client: a progress bar and a
 * throughput summary), e.g.
 *
 * ```sh
 * deno task client --requests 1000 --concurrency 16 --group-by worker_output
 * deno task client --tensor --size 1024     # seed 002: random tensors, answers must equal them
 * ```
 *
 * Progress goes to stderr (as tqdm's does): a `cli-progress` bar when stderr is a terminal, else a
 * plain line every 10% of the requests or every second, whichever is rarer, and one at the end.
 * The summary goes to stdout, as text or (`--json`) as JSON. Exit code 0 when every request got a
 * 2xx answer, 1 when any failed, 2 for a usage error, 130 when interrupted (Ctrl-C: requests in
 * flight are cancelled and the summary of the rest is printed).
 *
 * @module
 */

import { parseArgs as parseNodeArgs } from "node:util";
import process from "node:process";
import cliProgress from "cli-progress";
import { UsageError } from "./args.ts";
import { type LoadOptions, runLoad } from "./load_client.ts";
import {
  formatProgress,
  formatSummary,
  formatThroughputLine,
  type Progress,
} from "./load_summary.ts";
import { clientTarget } from "./client_config.ts";
import { tensorLoad } from "./tensor_load.ts";
import { type Dtype, DTYPES } from "../protocol/tensor.ts";

/** `deno task client --help`. */
export const USAGE = `meshwork client: POSTs to an HTTP endpoint and summarises the answers

Usage:
  deno task client [--url URL | --config FILE] [--requests N] [--concurrency C] [--body TEXT]
                   [--header 'K: V' ...] [--timeout-ms MS] [--duration-s S]
                   [--group-by FIELD] [--json] [--tensor [--size BYTES] [--dtype DTYPE]]

Options:
  --url URL             where to POST; default http://localhost:8000/generate
  -f, --config FILE     POST to the gateway of this serve config (its HTTP component's port);
                        configs/encoder_decoder.yaml implies --tensor (needs --allow-read)
  --tensor              seed 002: each request is a random tensor {"tensor": {dtype, shape,
                        data (base64)}}; each answer must equal it, or it counts as failed
  --size BYTES          (--tensor) bytes of each tensor, 0..67108864; default 1024
  --dtype DTYPE         (--tensor) element type; default float32
  -n, --requests N      requests to send, 1..1000000; default 100
  -c, --concurrency C   requests in flight at once, 1..1024; default 8
  -d, --body TEXT       the request body; default {"prompt":"test prompt"}
  -H, --header 'K: V'   a request header, repeatable (Content-Type: application/json unless set)
  --timeout-ms MS       deadline of each request, start to end of body; default 30000
  --duration-s S        start no request after S seconds (those in flight finish)
  --group-by FIELD      count distinct 2xx bodies by one JSON field (a.b nested), e.g. worker_output
  --json                print the summary as JSON
  -h, --help            this text

Progress goes to stderr (a bar on a terminal, else a line every 10% or second, whichever is
rarer); the summary to stdout, with --tensor ending in "Throughput: <req/s> Total Time: <s>".
Latency is request start to end of body. Exit code: 0 every request got a 2xx answer (the right
one, with --tensor), 1 some failed, 2 usage error, 130 interrupted.
`;

/** Where `main` writes, and whether stderr is a terminal. */
export interface ClientIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Draw a bar (true) or print plain progress lines (false). */
  isTerminal: boolean;
  /** Aborting it interrupts the run (the entry point wires SIGINT to it). */
  signal?: AbortSignal;
}

/** A progress reporter: `update` after each request, `stop` once at the end. */
export interface ProgressReporter {
  update(progress: Progress): void;
  stop(last?: Progress): void;
}

/**
 * Plain progress lines for a log: one when at least `minFraction` of the requests and
 * `minIntervalMs` have passed since the last line (every 10% or every second, whichever is
 * rarer), and one at the end.
 */
export function lineProgress(
  write: (line: string) => void,
  { minIntervalMs = 1000, minFraction = 0.1, now = () => performance.now() } = {},
): ProgressReporter {
  let lastAt = now();
  let lastDone = 0;
  const print = (p: Progress) => {
    lastAt = now();
    lastDone = p.done;
    write(formatProgress(p));
  };
  return {
    update(p) {
      if (p.done - lastDone >= minFraction * p.total && now() - lastAt >= minIntervalMs) print(p);
    },
    stop(last) {
      if (last && last.done !== lastDone) print(last);
    },
  };
}

/** A `cli-progress` bar on stderr. */
function barProgress(total: number): ProgressReporter {
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: "client |{bar}| {value}/{total} requests | {rate} req/s | {failed} errors | " +
      "{duration_formatted} elapsed, ETA {eta_formatted}",
    hideCursor: true,
    barsize: 30,
    etaBuffer: 100,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { rate: "0.0", failed: 0 });
  const payload = (p: Progress) => ({
    rate: (p.elapsedMs > 0 ? (p.done * 1000) / p.elapsedMs : 0).toFixed(1),
    failed: p.failed,
  });
  return {
    update: (p) => bar.update(p.done, payload(p)),
    stop(last) {
      if (last) bar.update(last.done, payload(last));
      bar.stop();
    },
  };
}

function integer(value: string | undefined, name: string, min: number, max: number, def: number) {
  if (value === undefined) return def;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} expects a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/** The tensors of `--tensor`: bytes and element type. */
export interface TensorSpec {
  size: number;
  dtype: Dtype;
}

/** The command line of the client, parsed. */
export interface ClientArgs {
  options: LoadOptions;
  json: boolean;
  /** `--tensor`: random tensors of `size` bytes of `dtype`, answers checked. */
  tensor?: TensorSpec;
  /** `--size` and `--dtype` (or their defaults), for a config that implies `--tensor`. */
  tensorSpec: TensorSpec;
  /** `--config`: the URL (and tensor mode) come from this serve config. */
  configPath?: string;
}

/** Parses the command line into load options (`null` for `--help`); `UsageError` when bad. */
export function parseClientArgs(args: string[]): ClientArgs | null {
  let values;
  try {
    ({ values } = parseNodeArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: "string" },
        requests: { type: "string", short: "n" },
        concurrency: { type: "string", short: "c" },
        body: { type: "string", short: "d" },
        header: { type: "string", short: "H", multiple: true },
        "timeout-ms": { type: "string" },
        "duration-s": { type: "string" },
        "group-by": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        config: { type: "string", short: "f" },
        tensor: { type: "boolean" },
        size: { type: "string" },
        dtype: { type: "string" },
      },
    }));
  } catch (error) {
    // node:util's messages go on with advice about positionals; the first sentence is enough.
    throw new UsageError(String((error as Error).message).split(/\. /)[0]!.replace(/\.$/, ""));
  }
  if (values.help) return null;
  if (values.config !== undefined && values.url !== undefined) {
    throw new UsageError("Give --url or --config, not both");
  }
  if (values.config === "") throw new UsageError("--config needs a file");
  const dtype = values.dtype ?? "float32";
  if (!(DTYPES as readonly string[]).includes(dtype)) {
    throw new UsageError(`--dtype expects one of ${DTYPES.join(", ")}, got "${dtype}"`);
  }
  const size = integer(values.size, "size", 0, 64 * 1024 * 1024, 1024);
  if (
    (values.size !== undefined || values.dtype !== undefined) && !values.tensor && !values.config
  ) {
    throw new UsageError("--size and --dtype go with --tensor (or --config of a tensor graph)");
  }
  if (values.tensor && values.body !== undefined) {
    throw new UsageError("--tensor makes the bodies; leave out --body");
  }
  const url = values.url ?? "http://localhost:8000/generate";
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url expects an http(s) URL, got "${url}"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UsageError(`--url expects an http(s) URL, got "${url}"`);
  }
  const headers = (values.header ?? []).map((line): [string, string] => {
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon).trim() : "";
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new UsageError(`--header expects "Name: value", got "${line}"`);
    }
    return [name, line.slice(colon + 1).trim()];
  });
  let durationS: number | undefined;
  if (values["duration-s"] !== undefined) {
    durationS = Number(values["duration-s"]);
    if (!(durationS > 0 && durationS <= 86_400) || values["duration-s"].trim() === "") {
      throw new UsageError(
        `--duration-s expects seconds from 0 to 86400, got "${values["duration-s"]}"`,
      );
    }
  }
  const groupBy = values["group-by"];
  if (groupBy !== undefined && (groupBy === "" || groupBy.split(".").includes(""))) {
    throw new UsageError(`--group-by expects a JSON field name like worker_output or a.b`);
  }
  return {
    json: values.json === true,
    tensorSpec: { size, dtype: dtype as Dtype },
    ...(values.tensor ? { tensor: { size, dtype: dtype as Dtype } } : {}),
    ...(values.config !== undefined ? { configPath: values.config } : {}),
    options: {
      url,
      requests: integer(values.requests, "requests", 1, 1_000_000, 100),
      concurrency: integer(values.concurrency, "concurrency", 1, 1024, 8),
      body: values.body ?? JSON.stringify({ prompt: "test prompt" }),
      headers,
      timeoutMs: integer(values["timeout-ms"], "timeout-ms", 1, 3_600_000, 30_000),
      durationS,
      groupBy,
    },
  };
}

/** Runs the client; returns the exit code. */
export async function main(args: string[], io: ClientIO): Promise<number> {
  let parsed;
  try {
    parsed = parseClientArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(USAGE);
    io.stderr(`error: ${error.message}`);
    return 2;
  }
  if (parsed === null) {
    io.stdout(USAGE);
    return 0;
  }
  const { json } = parsed;
  let { options, tensor } = parsed;
  if (parsed.configPath !== undefined) {
    try {
      const target = await clientTarget(parsed.configPath);
      options = { ...options, url: target.url };
      if (target.tensor && !tensor) tensor = parsed.tensorSpec;
    } catch (error) {
      io.stderr(`error: ${error instanceof Error ? error.message : String(error)}`);
      return 1;
    }
  }
  if (tensor) {
    const load = tensorLoad(tensor.size, tensor.dtype);
    options = {
      ...options,
      headers: [["accept", "application/json"], ...(options.headers ?? [])],
      bodyFor: load.bodyFor,
      verify: load.verify,
    };
  }
  const progress = io.isTerminal ? barProgress(options.requests) : lineProgress(io.stderr);
  let last: Progress | undefined;
  let summary;
  try {
    summary = await runLoad({ ...options, signal: io.signal }, (p) => {
      last = p;
      progress.update(p);
    });
  } finally {
    progress.stop(last);
  }
  io.stdout(json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
  if (tensor && !json) io.stdout(formatThroughputLine(summary));
  if (summary.stopped === "interrupted") return 130;
  return summary.failed > 0 ? 1 : 0;
}

if (import.meta.main) {
  const interrupt = new AbortController();
  Deno.addSignalListener("SIGINT", () => {
    if (interrupt.signal.aborted) {
      if (Deno.stderr.isTerminal()) console.error("\x1b[?25h"); // the bar hid the cursor
      Deno.exit(130);
    }
    interrupt.abort();
  });
  Deno.exit(
    await main(Deno.args, {
      stdout: (text) => console.log(text),
      stderr: (text) => console.error(text),
      isTerminal: Deno.stderr.isTerminal(),
      signal: interrupt.signal,
    }),
  );
}
