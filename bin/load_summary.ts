/**
 * The load client's arithmetic and wording: nearest-rank percentiles, the `Summary` a run ends
 * with, its text form (what `deno task client` prints) and the plain progress line used when
 * stderr is not a terminal.
 *
 * @module
 */

/** Latency figures in milliseconds, over the requests that got a 2xx answer. */
export interface LatencyStats {
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** One distinct response body (or `--group-by` value) and how many 2xx answers had it. */
export interface BodyCount {
  body: string;
  count: number;
}

/** Why a run ended. */
export type StopReason = "completed" | "duration" | "interrupted";

/** What a load run found. */
export interface Summary {
  url: string;
  /** `--requests`: how many the run was asked to send. */
  requests: number;
  concurrency: number;
  /** Requests started. Fewer than `requests` after `--duration-s` or an interrupt. */
  sent: number;
  /** Requests that ended, with an answer or an error (`ok + failed`). */
  completed: number;
  /** 2xx answers whose body was read to the end. */
  ok: number;
  /** Non-2xx answers plus network errors (refused, timeout, reset, ...). */
  failed: number;
  /** Requests in flight when the run was interrupted, aborted and not counted. */
  cancelled: number;
  stopped: StopReason;
  /** First request start to last request end. */
  totalMs: number;
  /** `completed` per second of `totalMs`. */
  throughput: number;
  /** `null` when no request succeeded. */
  latencyMs: LatencyStats | null;
  /** Every HTTP status received, 2xx included: `{"200": 998, "503": 2}`. */
  statuses: Record<string, number>;
  /** Non-2xx statuses only. */
  httpErrors: Record<string, number>;
  /** Requests with no complete HTTP answer, by kind: `{"connection refused": 100}`. */
  networkErrors: Record<string, number>;
  /** The first error message seen of each network error kind. */
  errorExamples: Record<string, string>;
  /** With a check of the answers (`--tensor`): 2xx answers that were wrong (counted in `failed`). */
  mismatched?: number;
  /** What was wrong with the first wrong answer. */
  mismatchExample?: string;
  /** Response body bytes received, all statuses. */
  bytes: number;
  bodies: {
    /** `--group-by` field, or `null` when whole bodies are compared. */
    groupBy: string | null;
    /** Distinct bodies among the 2xx answers (at most `BODY_TRACK_LIMIT`, see `more`). */
    distinct: number;
    /** True when there were more distinct bodies than the client keeps track of. */
    more: boolean;
    /** The most frequent ones, most frequent first (at most five). */
    top: BodyCount[];
  };
}

/** What progress reporters get after every completed request. */
export interface Progress {
  done: number;
  total: number;
  failed: number;
  elapsedMs: number;
}

/**
 * The nearest-rank `p`-th percentile (0 < p <= 100) of ascending `sorted`: the smallest value with
 * at least p% of the values at or below it. `NaN` for no values.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile: p must be in (0, 100], got ${p}`);
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Min, mean, p50, p90, p99 and max of `values` (any order; not modified); `null` when empty. */
export function latencyStats(values: ArrayLike<number>): LatencyStats | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    min: sorted[0]!,
    mean: sum / sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1]!,
  };
}

/** `counts` sorted by count (then body), the first `n`. */
export function topCounts(counts: Map<string, number>, n = 5): BodyCount[] {
  return [...counts].map(([body, count]) => ({ body, count }))
    .sort((a, b) => b.count - a.count || (a.body < b.body ? -1 : a.body > b.body ? 1 : 0))
    .slice(0, n);
}

const ms = (v: number) => v.toFixed(v < 10 ? 2 : 1);

function counts(record: Record<string, number>): string {
  return Object.entries(record).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`)
    .join(", ");
}

/** One body as a summary line shows it: trailing space trimmed, escaped if needed, cut at 100. */
export function displayBody(body: string, width = 100): string {
  let text = body.trimEnd();
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(text) || text === "") text = JSON.stringify(text);
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

/** The summary as `deno task client` prints it. */
export function formatSummary(s: Summary): string {
  const lines: string[] = [];
  const stopped = s.stopped === "duration"
    ? ` (stopped starting requests at --duration-s; ${s.sent} of ${s.requests} sent)`
    : s.stopped === "interrupted"
    ? ` (interrupted; ${s.sent} of ${s.requests} sent, ${s.cancelled} cancelled in flight)`
    : "";
  lines.push(`client: ${s.completed} requests to ${s.url}, concurrency ${s.concurrency}${stopped}`);
  lines.push(`  total time   ${(s.totalMs / 1000).toFixed(3)} s`);
  lines.push(`  throughput   ${s.throughput.toFixed(1)} req/s`);
  const l = s.latencyMs;
  lines.push(
    l
      ? `  latency      p50 ${ms(l.p50)} ms, p90 ${ms(l.p90)} ms, p99 ${ms(l.p99)} ms ` +
        `(min ${ms(l.min)}, mean ${ms(l.mean)}, max ${ms(l.max)}; 2xx only)`
      : "  latency      - (no 2xx answers)",
  );
  const statuses = Object.keys(s.statuses).length ? ` [${counts(s.statuses)}]` : "";
  lines.push(`  answers      ${s.ok} ok, ${s.failed} failed${statuses}`);
  if (s.failed === 0) lines.push("  errors       none");
  else {
    if (Object.keys(s.httpErrors).length) {
      lines.push(`  HTTP errors  ${counts(s.httpErrors)}`);
    }
    if (s.mismatched) {
      lines.push(
        `  mismatches   ${s.mismatched} answers differ from their request` +
          (s.mismatchExample ? `  (e.g. ${displayBody(s.mismatchExample)})` : ""),
      );
    }
    for (const [kind, n] of Object.entries(s.networkErrors).sort((a, b) => b[1] - a[1])) {
      lines.push(
        `  net errors   ${kind}: ${n}  (e.g. ${displayBody(s.errorExamples[kind] ?? "")})`,
      );
    }
  }
  const b = s.bodies;
  const what = (n: number) =>
    b.groupBy ? `value${n === 1 ? "" : "s"} of ${b.groupBy}` : `bod${n === 1 ? "y" : "ies"}`;
  if (s.ok === 0) lines.push("  bodies       - (no 2xx answers)");
  else if (b.more) {
    lines.push(
      `  bodies       more than ${b.distinct} distinct ${what(2)}; not listed` +
        (b.groupBy ? "" : " (--group-by FIELD compares one JSON field)"),
    );
  } else if (b.distinct === s.ok && s.ok > 1) {
    lines.push(
      `  bodies       all ${s.ok} distinct ${what(2)}` +
        (b.groupBy ? "" : " (--group-by FIELD compares one JSON field)"),
    );
  } else {
    const shown = b.top.length < b.distinct ? `, top ${b.top.length}` : "";
    lines.push(`  bodies       ${b.distinct} distinct ${what(b.distinct)}${shown}:`);
    const width = String(b.top[0]?.count ?? 0).length;
    for (const { body, count } of b.top) {
      lines.push(`    ${String(count).padStart(width)}  ${displayBody(body)}`);
    }
  }
  return lines.join("\n");
}

/** Seed 002's closing line: `Throughput: <req/s> Total Time: <s>`. */
export function formatThroughputLine(s: Summary): string {
  return `Throughput: ${s.throughput} Total Time: ${s.totalMs / 1000}`;
}

/** The plain progress line: `client: 40/100 requests, 38.2 req/s, 0 errors`. */
export function formatProgress(p: Progress): string {
  const rate = p.elapsedMs > 0 ? (p.done * 1000) / p.elapsedMs : 0;
  return `client: ${p.done}/${p.total} requests, ${rate.toFixed(1)} req/s, ${p.failed} errors`;
}
