/**
 * The load client's engine: `runLoad` sends `requests` POSTs with at most `concurrency` in flight,
 * reads every answer to the end of its body, and returns a `Summary` (counts, throughput,
 * latency percentiles, errors by HTTP status and by network error kind, distinct bodies).
 *
 * Latency is request start to the end of the body, so a streamed answer counts when it ends.
 * Every request has its own deadline (`timeoutMs`, headers to end of body). Nothing is printed
 * here; `onProgress` is called after each request ends.
 *
 * @module
 */

import {
  type LatencyStats,
  latencyStats,
  type Progress,
  type StopReason,
  type Summary,
  topCounts,
} from "./load_summary.ts";

/** What to send, how much, how fast. */
export interface LoadOptions {
  url: string;
  /** Requests to send, 1..1,000,000. */
  requests: number;
  /** Requests in flight at once, 1..1024. */
  concurrency: number;
  /** The body of every request (unless `bodyFor` is given). */
  body: string;
  /** The body of request `index` (0, 1, ...), beating `body`: a different body per request. */
  bodyFor?: (index: number) => string;
  /**
   * Checks the 2xx answer of request `index` (its whole body): `undefined` when it is right, else
   * what is wrong. A wrong answer counts as failed and as `mismatched`.
   */
  verify?: (index: number, answer: string) => string | undefined;
  /** Request headers. `Content-Type: application/json` unless given. */
  headers?: [string, string][];
  /** Deadline of each request, from its start to the end of its body. */
  timeoutMs: number;
  /** When set, no request starts after this many seconds; those in flight finish. */
  durationS?: number;
  /** Compare 2xx bodies by this JSON field (`a.b` for nested) instead of as a whole. */
  groupBy?: string;
  /** Aborting it stops the run: nothing new starts, requests in flight are cancelled. */
  signal?: AbortSignal;
  /** The fetch to use (tests count requests in flight with it). Default: the global one. */
  fetch?: typeof fetch;
}

/** The most distinct bodies (or `groupBy` values) a run keeps count of. */
export const BODY_TRACK_LIMIT = 1000;
/** Bodies longer than this are compared by their first `BODY_KEY_CHARS` characters and length. */
export const BODY_KEY_CHARS = 4096;
/** The most characters of a body kept for `groupBy` (the rest is counted, not decoded). */
const BODY_KEEP_CHARS = 65_536;

/** The network error kinds the summary names; anything else is "other". */
const ERROR_KINDS: [RegExp, string][] = [
  [/connection refused/i, "connection refused"],
  [/connection reset/i, "connection reset"],
  [/dns error|failed to lookup|name or service not known|no such host/i, "dns error"],
  [/connection closed|unexpected eof|incomplete message/i, "connection closed"],
  [/timed out|timeout/i, "timeout"],
  [/network is unreachable|no route to host|host is unreachable/i, "unreachable"],
  [/certificate|tls|ssl|handshake/i, "tls error"],
  [/error reading a body|body/i, "body read error"],
  [/are blocked/i, "blocked port"],
];

/** The error's message with its causes, e.g. "fetch failed: ... tcp connect error: ...". */
export function errorText(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 4; depth++) {
    if (e instanceof Error || e instanceof DOMException) {
      parts.push(e.message);
      e = (e as { cause?: unknown }).cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(": ");
}

/** The kind of a fetch or body-read failure: "connection refused", "timeout", ... or "other". */
export function classifyError(error: unknown): string {
  if (error instanceof DOMException && error.name === "TimeoutError") return "timeout";
  const text = errorText(error);
  for (const [pattern, kind] of ERROR_KINDS) if (pattern.test(text)) return kind;
  return "other";
}

/** Bodies that declare at most this length are read in one go (`bytes()`, the fast path). */
const FAST_READ_BYTES = 1_048_576;

/** Reads a body to its end: byte count and the first `BODY_KEEP_CHARS` characters. */
async function readBody(response: Response): Promise<{ bytes: number; text: string }> {
  if (!response.body) return { bytes: 0, text: "" };
  const decoder = new TextDecoder();
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared <= FAST_READ_BYTES) {
    const data = await response.bytes();
    const keep = data.byteLength <= BODY_KEEP_CHARS ? data : data.subarray(0, BODY_KEEP_CHARS);
    return { bytes: data.byteLength, text: decoder.decode(keep, { stream: keep !== data }) };
  }
  // Unknown or large: stream it, so memory stays bounded whatever the server sends.
  const reader = response.body.getReader();
  let bytes = 0;
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (text.length <= BODY_KEEP_CHARS) text += decoder.decode(value, { stream: true });
  }
  if (text.length <= BODY_KEEP_CHARS) text += decoder.decode();
  return { bytes, text };
}

/** The key a 2xx body is counted under: the body, or the value of `groupBy` in it. */
export function bodyKey(text: string, bytes: number, groupBy?: string): string {
  if (groupBy === undefined) {
    return text.length <= BODY_KEY_CHARS && text.length < BODY_KEEP_CHARS
      ? text
      : `${text.slice(0, BODY_KEY_CHARS)}… (${bytes} bytes)`;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return `(not JSON)`;
  }
  for (const part of groupBy.split(".")) {
    if (value === null || typeof value !== "object" || !(part in value)) return `(no ${groupBy})`;
    value = (value as Record<string, unknown>)[part];
  }
  const key = typeof value === "string" ? value : JSON.stringify(value);
  return key.length <= BODY_KEY_CHARS ? key : `${key.slice(0, BODY_KEY_CHARS)}…`;
}

/** Bytes of `text` in UTF-8 (the answers checked here are ASCII JSON: one byte a character). */
function _utf8Length(text: string): number {
  // deno-lint-ignore no-control-regex
  return /^[\x00-\x7f]*$/.test(text) ? text.length : new TextEncoder().encode(text).byteLength;
}

/** Milliseconds to the microsecond, rates to 1/1000: enough for any report. */
const round = (v: number) => Math.round(v * 1000) / 1000;

function roundStats(stats: LatencyStats | null): LatencyStats | null {
  if (!stats) return null;
  const { min, mean, p50, p90, p99, max } = stats;
  return {
    min: round(min),
    mean: round(mean),
    p50: round(p50),
    p90: round(p90),
    p99: round(p99),
    max: round(max),
  };
}

function bump(record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1;
}

/** Runs the load and returns its summary. Never throws for a failed request: it counts it. */
export async function runLoad(
  options: LoadOptions,
  onProgress?: (progress: Progress) => void,
): Promise<Summary> {
  const { url, requests, concurrency, body, timeoutMs, groupBy, signal } = options;
  const send = options.fetch ?? fetch;
  const headers = new Headers(options.headers ?? []);
  if (!headers.has("content-type")) headers.set("content-type", "application/json");

  const latencies = new Float64Array(requests);
  let okCount = 0;
  let failed = 0;
  let cancelled = 0;
  let sent = 0;
  let bytes = 0;
  const statuses: Record<string, number> = {};
  const httpErrors: Record<string, number> = {};
  const networkErrors: Record<string, number> = {};
  const errorExamples: Record<string, string> = {};
  const bodies = new Map<string, number>();
  let moreBodies = false;
  let stopped: StopReason = "completed";

  const start = performance.now();
  const stopAt = options.durationS !== undefined ? start + options.durationS * 1000 : Infinity;
  let end = start;

  const report = () =>
    onProgress?.({
      done: okCount + failed,
      total: requests,
      failed,
      elapsedMs: performance.now() - start,
    });

  const { bodyFor, verify } = options;
  let mismatched = 0;
  let mismatchExample: string | undefined;

  async function one(index: number): Promise<void> {
    const began = performance.now();
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      const response = await send(url, {
        method: "POST",
        headers,
        body: bodyFor ? bodyFor(index) : body,
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      });
      const read = verify && response.ok
        ? await response.text().then((text) => ({ bytes: _utf8Length(text), text, whole: text }))
        : { ...(await readBody(response)), whole: undefined };
      const took = performance.now() - began;
      bytes += read.bytes;
      bump(statuses, String(response.status));
      const wrong = verify && read.whole !== undefined ? verify(index, read.whole) : undefined;
      if (wrong !== undefined) {
        failed++;
        mismatched++;
        mismatchExample ??= wrong;
      } else if (response.ok) {
        latencies[okCount++] = took;
        const key = bodyKey(read.text, read.bytes, groupBy);
        const seen = bodies.get(key);
        if (seen !== undefined) bodies.set(key, seen + 1);
        else if (bodies.size < BODY_TRACK_LIMIT) bodies.set(key, 1);
        else moreBodies = true;
      } else {
        failed++;
        bump(httpErrors, String(response.status));
      }
    } catch (error) {
      if (signal?.aborted && !timeout.aborted) {
        cancelled++;
        return;
      }
      failed++;
      const kind = classifyError(error);
      bump(networkErrors, kind);
      errorExamples[kind] ??= errorText(error);
    }
    end = performance.now();
    report();
  }

  async function lane(): Promise<void> {
    while (sent < requests) {
      if (signal?.aborted) {
        stopped = "interrupted";
        return;
      }
      if (performance.now() >= stopAt) {
        stopped = "duration";
        return;
      }
      await one(sent++);
    }
  }

  await Promise.all(Array.from({ length: Math.min(concurrency, requests) }, lane));
  if (signal?.aborted && (cancelled > 0 || sent < requests)) stopped = "interrupted";

  const totalMs = end - start;
  const completed = okCount + failed;
  return {
    url,
    requests,
    concurrency,
    sent,
    completed,
    ok: okCount,
    failed,
    cancelled,
    stopped,
    totalMs: round(totalMs),
    throughput: round(totalMs > 0 ? (completed * 1000) / totalMs : 0),
    latencyMs: roundStats(latencyStats(latencies.subarray(0, okCount))),
    statuses,
    httpErrors,
    networkErrors,
    errorExamples,
    ...(verify ? { mismatched, ...(mismatchExample ? { mismatchExample } : {}) } : {}),
    bytes,
    bodies: {
      groupBy: groupBy ?? null,
      distinct: bodies.size,
      more: moreBodies,
      top: topCounts(bodies, 5),
    },
  };
}
