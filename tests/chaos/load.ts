/**
 * A small, bounded load generator for the fault-injection suite (not a test file).
 *
 * `runLoad` runs N concurrent loops; each sends one request at a time through a {@linkcode Sender}
 * (HTTP to a gateway, or a runtime's endpoint client) until its count or the duration is reached,
 * with a short pause between requests (the pause sets the rate; nothing waits on it for
 * correctness). Every request gets a unique id and ends as exactly one of:
 *
 * - `ok`: an answer, with its body;
 * - `error`: an error the caller can act on (a MeshError code, or an HTTP status with the JSON
 *   error body `{"error":{"code","message"}}`); `clear` unless its code is `internal`, `network`
 *   or `unexpected`;
 * - `lost`: no answer and no error within the hard timeout, set well beyond the request's own
 *   deadline (a hang counts as lost).
 *
 * @module
 */

import { MeshError } from "../../protocol/errors.ts";
import type { EndpointClient } from "../../router/client.ts";
import { eventually } from "../helpers/eventually.ts";

/** What one request came to, as a sender reports it. */
export type Outcome =
  | { ok: true; body: unknown }
  | { ok: false; code: string; status?: number; message: string };

/** Sends request `id`; `signal` aborts when the load generator gives up on it (hard timeout). */
export type Sender = (id: string, signal: AbortSignal) => Promise<Outcome>;

/** One request, as the generator recorded it. Times are `Date.now()` values. */
export interface RequestRecord {
  id: string;
  loop: number;
  start: number;
  /** When it ended; for a lost request, when the generator gave up on it. */
  end: number;
  result: "ok" | "error" | "lost";
  /** For `ok`. */
  body?: unknown;
  /** For `error`: the MeshError / HTTP error code (`network`, `unexpected` for anything else). */
  code?: string;
  /** For `error` over HTTP. */
  status?: number;
  message?: string;
  /** For `error`: whether it is a clear, expected error (a named mesh code, not `internal`). */
  clear?: boolean;
}

/** Options for {@linkcode runLoad}. */
export interface LoadOptions {
  /** Concurrent loops. */
  loops: number;
  /** Requests per loop (the loop also stops at `durationMs` or `stop`, whichever is first). */
  perLoop?: number;
  /** How long loops keep starting requests. */
  durationMs?: number;
  /** Stops the loops from starting new requests. */
  stop?: AbortSignal;
  /** The pause after each request, in ms. Default 20. */
  pauseMs?: number;
  /** A request without an answer after this long is lost. */
  hardTimeoutMs: number;
  /** Prefix of the request ids. Default `req`. */
  label?: string;
  /** Sees every request start and end while the load runs. */
  watch?: LoadWatch;
}

/** Options of {@linkcode LoadWatch.untilOk}. */
export interface UntilOkOptions {
  /** Count only requests that started at or after this `Date.now()` value. Default: all. */
  since?: number;
  /** Count only answers this accepts. Default: every answer. */
  match?: (record: RequestRecord) => boolean;
  /** Give up (and fail) after this long. Default 15 000 ms. */
  timeoutMs?: number;
}

/**
 * What a running load has done so far: the requests that ended (in end order) and those still
 * open. The waits poll every 20 ms and fail with what they waited for when their bound passes.
 */
export class LoadWatch {
  /** Requests that ended, in the order they ended. */
  readonly ended: RequestRecord[] = [];
  readonly #open = new Map<string, number>();

  /** Called by {@linkcode runLoad} when request `id` starts at `start`. */
  started(id: string, start: number): void {
    this.#open.set(id, start);
  }

  /** Called by {@linkcode runLoad} when a request has its outcome. */
  finished(record: RequestRecord): void {
    this.#open.delete(record.id);
    this.ended.push(record);
  }

  /** Answers (`ok`) among requests started at or after `since` that `match` accepts. */
  okCount(since = 0, match: (record: RequestRecord) => boolean = () => true): number {
    return this.ended.filter((r) => r.result === "ok" && r.start >= since && match(r)).length;
  }

  /** Requests started before `t` that have no outcome yet. */
  openBefore(t: number): number {
    let open = 0;
    for (const start of this.#open.values()) if (start < t) open++;
    return open;
  }

  /** Waits until `count` requests were answered (see {@linkcode UntilOkOptions}). */
  untilOk(count: number, what: string, options: UntilOkOptions = {}): Promise<void> {
    const { since = 0, match, timeoutMs = 15_000 } = options;
    return eventually(`${count} answers: ${what}`, () => this.okCount(since, match) >= count, {
      timeoutMs,
    });
  }

  /** Waits until every request started before `t` has its outcome (answer, error or lost). */
  untilEndedBefore(t: number, what: string, timeoutMs = 30_000): Promise<void> {
    return eventually(what, () => this.openBefore(t) === 0, { timeoutMs });
  }
}

/** What a load run came to. */
export interface LoadResult {
  sent: number;
  ok: number;
  clearError: number;
  /** Errors that are not clear (`internal`, `network`, `unexpected`). */
  unclearError: number;
  lost: number;
  /** Every error and loss by code (`lost` for lost requests). */
  errorsByCode: Record<string, number>;
  /** Every request, ordered by start time. */
  records: RequestRecord[];
  startedAt: number;
  endedAt: number;
}

const UNCLEAR = new Set(["internal", "network", "unexpected"]);

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs the load and resolves when every loop has finished (each request is bounded). */
export async function runLoad(send: Sender, options: LoadOptions): Promise<LoadResult> {
  if (options.perLoop === undefined && options.durationMs === undefined && !options.stop) {
    throw new TypeError("runLoad needs perLoop, durationMs or stop: it must be bounded");
  }
  const label = options.label ?? "req";
  const pauseMs = options.pauseMs ?? 20;
  const startedAt = Date.now();
  const until = options.durationMs === undefined ? Infinity : startedAt + options.durationMs;
  const records: RequestRecord[] = [];

  const one = async (id: string, loop: number): Promise<RequestRecord> => {
    const controller = new AbortController();
    const start = Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hard = new Promise<"lost">((resolve) => {
      timer = setTimeout(() => resolve("lost"), options.hardTimeoutMs);
    });
    const outcome = await Promise.race([
      send(id, controller.signal).catch((error): Outcome => classify(error)),
      hard,
    ]);
    clearTimeout(timer);
    const end = Date.now();
    if (outcome === "lost") {
      controller.abort(new Error(`lost: no answer within ${options.hardTimeoutMs} ms`));
      return { id, loop, start, end, result: "lost" };
    }
    if (outcome.ok) return { id, loop, start, end, result: "ok", body: outcome.body };
    return {
      id,
      loop,
      start,
      end,
      result: "error",
      code: outcome.code,
      status: outcome.status,
      message: outcome.message,
      clear: !UNCLEAR.has(outcome.code) && outcome.message.length > 0,
    };
  };

  await Promise.all(
    Array.from({ length: options.loops }, async (_, loop) => {
      for (let n = 0; options.perLoop === undefined || n < options.perLoop; n++) {
        if (Date.now() >= until || options.stop?.aborted) break;
        const id = `${label}-${loop}-${n}`;
        options.watch?.started(id, Date.now());
        const record = await one(id, loop);
        records.push(record);
        options.watch?.finished(record);
        if (pauseMs > 0) await delay(pauseMs);
      }
    }),
  );

  records.sort((a, b) => a.start - b.start);
  const errorsByCode: Record<string, number> = {};
  let ok = 0, clearError = 0, unclearError = 0, lost = 0;
  for (const record of records) {
    if (record.result === "ok") ok++;
    else if (record.result === "lost") lost++;
    else if (record.clear) clearError++;
    else unclearError++;
    if (record.result !== "ok") {
      const code = record.result === "lost" ? "lost" : record.code!;
      errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
    }
  }
  return {
    sent: records.length,
    ok,
    clearError,
    unclearError,
    lost,
    errorsByCode,
    records,
    startedAt,
    endedAt: Date.now(),
  };
}

/** Any thrown value as an outcome: a MeshError keeps its code; anything else is `unexpected`. */
export function classify(error: unknown): Outcome {
  if (error instanceof MeshError) return { ok: false, code: error.code, message: error.message };
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { ok: false, code: "unexpected", message };
}

/**
 * A sender through an endpoint client: `request(id)` builds the request; every chunk is collected
 * (the body is the array of chunks). Each call has its own deadline of `deadlineMs`.
 */
export function clientSender(
  client: EndpointClient,
  request: (id: string) => unknown,
  deadlineMs: number,
): Sender {
  return async (id, signal) => {
    const chunks: unknown[] = [];
    try {
      const options = { requestId: id, deadline: Date.now() + deadlineMs, signal };
      for await (const chunk of client.generate(request(id), options)) chunks.push(chunk);
      return { ok: true, body: chunks };
    } catch (error) {
      return classify(error);
    }
  };
}

/**
 * A sender through the gateway: `POST url` with `{"prompt": id, "request_id": id}` and
 * `accept: application/json`. A 200 is ok (the parsed body); any other status is an error with
 * the code of its JSON error body; a failed fetch is a `network` error.
 */
export function httpSender(url: string): Sender {
  return async (id, signal) => {
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ prompt: id, request_id: id }),
        signal,
      });
    } catch (error) {
      return { ok: false, code: "network", message: String(error) };
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      return { ok: false, code: "network", status: response.status, message: String(error) };
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    if (response.status === 200) return { ok: true, body };
    const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    return {
      ok: false,
      code: typeof error?.code === "string" ? error.code : "unexpected",
      status: response.status,
      message: typeof error?.message === "string" ? error.message : text,
    };
  };
}

/**
 * Recovery: the time from `from` until the first success after which every request succeeded.
 * Requests are taken in start order; the recovery point is the earliest end of a successful
 * request that started after the last failed (or lost) one and ended at or after `from`.
 * `undefined` when the load never recovered (its last request failed).
 */
export function recoveryMs(records: readonly RequestRecord[], from: number): number | undefined {
  let lastBad = -1;
  records.forEach((record, i) => {
    if (record.result !== "ok") lastBad = i;
  });
  let recoveredAt = Infinity;
  for (const record of records.slice(lastBad + 1)) {
    if (record.end >= from && record.end < recoveredAt) recoveredAt = record.end;
  }
  return recoveredAt === Infinity ? undefined : Math.max(0, recoveredAt - from);
}

/** Records that started before `t2` and ended after `t1`: those that overlapped [t1, t2]. */
export function during(records: readonly RequestRecord[], t1: number, t2: number): RequestRecord[] {
  return records.filter((record) => record.start < t2 && record.end > t1);
}

/** A few failed or lost requests, for assertion messages. */
export function describeFailures(result: LoadResult, max = 8): string {
  const bad = result.records.filter((record) => record.result !== "ok");
  const t0 = result.startedAt;
  const lines = bad.slice(0, max).map((r) =>
    `  ${r.id} +${r.start - t0}..+${r.end - t0} ms ${r.result}${r.code ? ` ${r.code}` : ""}${
      r.status ? ` (${r.status})` : ""
    }${r.message ? `: ${r.message}` : ""}`
  );
  if (bad.length > max) lines.push(`  ... and ${bad.length - max} more`);
  return `${bad.length} of ${result.sent} requests not ok ${
    JSON.stringify(result.errorsByCode)
  }:\n${lines.join("\n")}`;
}

/**
 * The one summary line of a fault test, in a fixed format:
 * `chaos: <fault> sent=N ok=N clear_error=N lost=N dup=N recovery_ms=N` and then any extra
 * `key=value` fields (`dup=n/a` where duplicates cannot be observed).
 */
export function summaryLine(
  fault: string,
  result: Pick<LoadResult, "sent" | "ok" | "clearError" | "unclearError" | "lost" | "errorsByCode">,
  recovery: number | undefined,
  duplicates: number | undefined,
  extra: Record<string, string | number> = {},
): string {
  const fields: Record<string, string | number> = {
    sent: result.sent,
    ok: result.ok,
    clear_error: result.clearError,
    lost: result.lost,
    dup: duplicates ?? "n/a",
    recovery_ms: recovery === undefined ? "never" : Math.round(recovery),
  };
  if (result.unclearError > 0) fields.unclear_error = result.unclearError;
  const codes = Object.entries(result.errorsByCode).map(([code, n]) => `${code}:${n}`).join(",");
  if (codes) fields.errors = codes;
  Object.assign(fields, extra);
  return `chaos: ${fault} ${Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(" ")}`;
}

/**
 * Prints a summary line where `deno task test` shows it: `deno test --quiet` (scripts/test.sh)
 * swallows everything a test writes through `console` and `Deno.stdout`, so the line goes to the
 * process's standard output device directly (on its own line, between the runner's "name ..." and
 * its "ok"); `console.log` where there is no such device.
 */
export function printSummary(line: string): void {
  try {
    const out = Deno.openSync("/dev/stdout", { append: true });
    try {
      const bytes = new TextEncoder().encode(`\n${line}\n`);
      for (let done = 0; done < bytes.length;) done += out.writeSync(bytes.subarray(done));
    } finally {
      out.close();
    }
  } catch {
    console.log(line);
  }
}
