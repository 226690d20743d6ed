/**
 * The HTTP gateway (the seeds' Frontend): a Hono app that fronts one streaming endpoint at
 * `POST /generate` and answers `/live`, `/ready`, `/health` and `/metrics`.
 *
 * The answer's form follows `Accept` (a case-insensitive substring match, first rule wins):
 *
 * - `text/event-stream`: SSE, `data: <JSON>\n\n` per chunk; a later failure is an
 *   `event: error` whose data is `{"code","message","retryable"}`.
 * - `application/x-ndjson`: NDJSON, one JSON value per line (strings JSON-encoded too).
 * - `application/json`: buffered; one chunk is the body, several are a JSON array, none is
 *   `null` (200). Every failure, even after the first chunk, gets its own status.
 * - anything else (none, `*\/*`, `text/plain`): lines. When the first chunk is a string the
 *   answer is `text/plain; charset=utf-8` and string chunks are written raw; otherwise it is
 *   NDJSON. Each chunk is followed by `\n`.
 *
 * The gateway waits for the first chunk (or the first error) before it sends the status, so an
 * error raised before any output gets its own status (400, 503 with `Retry-After`, 504...). After
 * that, each chunk goes to the client as soon as it is produced, and a failure becomes a final
 * error line (`{"error":{...}}`) or SSE `error` event on a 200 response.
 *
 * A client that goes away, a cancelled body stream or the request deadline aborts the
 * `AbortSignal` handed to `generate()` and calls `return()` on its iterator.
 *
 * @example
 * ```ts
 * import { createGatewayApp } from "./app.ts";
 * const app = createGatewayApp({
 *   async *generate(body) {
 *     yield `${(body as { prompt: string }).prompt}_GeneratedBy_example`;
 *   },
 *   health: () => ({ instances: [] }),
 *   ready: () => true,
 * });
 * const res = await app.request("/generate", { method: "POST", body: '{"prompt":"hi"}' });
 * console.assert((await res.text()) === "hi_GeneratedBy_example\n");
 * ```
 *
 * @module
 */

import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { timingSafeEqual } from "node:crypto";
import { Counter, Histogram, register as defaultRegistry, Registry } from "prom-client";
import { type Clock, systemClock, type TimerId } from "../utils/clock.ts";
import { MeshError } from "../protocol/errors.ts";
import { parseJsonBody } from "../protocol/json_body.ts";
import { type LogFields, type Logger, silentLogger } from "../utils/logger.ts";
import {
  bodyTimeout,
  errorResponse,
  type HttpErrorBody,
  jsonResponse,
  methodNotAllowed,
  payloadTooLarge,
  toPublicError,
  unauthorized,
  unknownPath,
} from "./http_errors.ts";

/** What `generate()` learns about the request besides its body. */
export interface GenerateContext {
  /** The request id (body `request_id`, else header `x-request-id`, else a fresh one). */
  requestId: string;
  /** Unix milliseconds after which the answer is useless. */
  deadline: number;
  /** Aborts when the client goes away or the deadline passes. */
  signal: AbortSignal;
  /** The HTTP request headers. */
  headers: Headers;
}

/** Options for {@linkcode createGatewayApp}. */
export interface GatewayOptions {
  /** Runs the fronted endpoint. Throws MeshError (bad_request, no_instances, ...) before or during the stream. */
  generate(body: unknown, ctx: GenerateContext): AsyncIterable<unknown>;
  /** Instances etc. for /health. */
  health(): unknown | Promise<unknown>;
  /** Whether /ready is 200. */
  ready(): boolean;
  /**
   * Prometheus text for /metrics. Default: prom-client's default registry merged with
   * `metricsRegistry`. A custom function replaces both; render `metricsRegistry` in it to keep
   * the gateway's own metrics.
   */
  metrics?(): Promise<{ contentType: string; body: string }>;
  /** Largest accepted request body, from `Content-Length` and while reading. Default: 1 MiB. */
  maxBodyBytes?: number;
  /**
   * Bearer keys: when any are given, `/generate` and `/health` answer 401 without
   * `Authorization: Bearer <one of them>`. `/live`, `/ready` and `/metrics` stay open for probes
   * and scrapers. Default: none (no authentication).
   */
  apiKeys?: readonly string[];
  /** Time the client has to send its whole body (slow-loris guard): 408 after. Default 10 000 ms. */
  bodyTimeoutMs?: number;
  /** Time from arrival to the deadline. Default: 60 000 ms. */
  requestTimeoutMs?: number;
  /** `Retry-After` on 503 answers, in seconds. Default: 1. */
  retryAfterSeconds?: number;
  /** Where the per-request lines (`debug`, or `warn` on failure) go. Default: silent. */
  logger?: Logger;
  /** Makes a request id when the client gives none. Default: `crypto.randomUUID()`. */
  newRequestId?(): string;
  /**
   * Where `mesh_gateway_requests_total{status}` and `mesh_gateway_request_duration_seconds`
   * live. Default: a fresh registry owned by this app (so several apps in one process do not
   * collide). Apps given the same registry share the metrics.
   */
  metricsRegistry?: Registry;
  /** The clock for the deadline timer. Default: the system clock. */
  clock?: Clock;
}

/** The default for {@linkcode GatewayOptions.bodyTimeoutMs}. */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;
/** The default for {@linkcode GatewayOptions.maxBodyBytes}. */
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;
/** The default for {@linkcode GatewayOptions.requestTimeoutMs}. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** How a `/generate` answer is written; see the module doc. */
export type ResponseMode = "sse" | "json" | "ndjson" | "lines";

/** The response mode that an `Accept` header asks for (case-insensitive substring match). */
export function responseModeOf(accept: string | null | undefined): ResponseMode {
  const value = (accept ?? "").toLowerCase();
  if (value.includes("text/event-stream")) return "sse";
  if (value.includes("application/x-ndjson")) return "ndjson";
  if (value.includes("application/json")) return "json";
  return "lines";
}

const OPS_PATHS: ReadonlySet<string> = new Set(["/live", "/ready", "/health", "/metrics"]);
const GET_ONLY = ["GET", "HEAD"] as const;
const VALID_REQUEST_ID = /^[\x21-\x7e]{1,256}$/;
const NDJSON = "application/x-ndjson";
const TEXT = "text/plain; charset=utf-8";
const SSE = "text/event-stream";
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Per-request bookkeeping shared by the middleware and the `/generate` handler. */
interface RequestRecord {
  start: number;
  requestId?: string;
  /** Set when a streamed body will report the end itself. */
  deferred: boolean;
  /** `ok`, `cancelled` or an error code. */
  outcome?: string;
}

function _nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`Gateway option "${name}" must be a non-negative number, got ${value}`);
  }
  return value;
}

/** `JSON.stringify` that writes `null` for values JSON cannot express (`undefined`). */
function _json(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

/**
 * Creates the gateway app. It holds no sockets: serve it with `serveGateway()` from
 * `./server.ts`, or call `app.request()` in tests.
 */
export function createGatewayApp(options: GatewayOptions): Hono {
  const maxBodyBytes = _nonNegative("maxBodyBytes", options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES);
  const bodyTimeoutMs = _nonNegative(
    "bodyTimeoutMs",
    options.bodyTimeoutMs,
    DEFAULT_BODY_TIMEOUT_MS,
  );
  const timeoutMs = _nonNegative(
    "requestTimeoutMs",
    options.requestTimeoutMs,
    DEFAULT_REQUEST_TIMEOUT_MS,
  );
  const retryAfterSeconds = _nonNegative("retryAfterSeconds", options.retryAfterSeconds, 1);
  const logger = options.logger ?? silentLogger;
  const newRequestId = options.newRequestId ?? (() => crypto.randomUUID());
  const clock = options.clock ?? systemClock;
  const registry = options.metricsRegistry ?? new Registry();
  const { requests, duration } = _gatewayMetrics(registry);
  const records = new WeakMap<Request, RequestRecord>();

  const finish = (method: string, path: string, status: number, record: RequestRecord) => {
    const ms = performance.now() - record.start;
    const ops = OPS_PATHS.has(path);
    if (!ops) {
      requests.inc({ status: String(status) });
      duration.observe(ms / 1000);
    }
    // A not-ready probe (503) is routine; a failure mid-stream hides behind a 200.
    const failed = ops ? status === 500 : status >= 500 || (record.outcome !== undefined &&
      record.outcome !== "ok" && record.outcome !== "cancelled");
    logger[failed ? "warn" : "debug"]("request", {
      method,
      path,
      status,
      ms: Math.round(ms * 10) / 10,
      request_id: record.requestId,
      outcome: record.outcome,
    });
  };

  const fail = (error: unknown, record: RequestRecord, fields: LogFields): Response => {
    const mapped = toPublicError(error, { retryAfterSeconds, logger, fields });
    record.outcome = mapped.body.code;
    const headers = { ...mapped.headers };
    if (record.requestId !== undefined) headers["x-request-id"] = record.requestId;
    return jsonResponse({ error: mapped.body }, mapped.status, headers);
  };

  const apiKeys = (options.apiKeys ?? []).filter(Boolean).map((key) => encoder.encode(key));
  const app = new Hono();

  app.use("*", async (c, next) => {
    const record: RequestRecord = { start: performance.now(), deferred: false };
    records.set(c.req.raw, record);
    await next();
    if (!record.deferred) finish(c.req.method, c.req.path, c.res.status, record);
  });

  app.onError((error, c) =>
    errorResponse(error, {
      retryAfterSeconds,
      logger,
      fields: { method: c.req.method, path: c.req.path },
    })
  );
  app.notFound((c) => errorResponse(unknownPath(c.req.method, c.req.path)));

  if (apiKeys.length > 0) {
    const guard = createMiddleware(async (c, next) => {
      if (!_authorized(c.req.header("authorization"), apiKeys)) {
        return errorResponse(unauthorized(), { fields: { path: c.req.path } });
      }
      await next();
    });
    app.use("/generate", guard);
    app.use("/health", guard);
  }

  app.post("/generate", (c) => {
    const req = c.req.raw;
    const record = records.get(req)!;
    return _handleGenerate(req, record, {
      options,
      maxBodyBytes,
      bodyTimeoutMs,
      timeoutMs,
      clock,
      logger,
      newRequestId,
      fail,
      finish: () => finish(req.method, c.req.path, 200, record),
    });
  });
  app.all("/generate", (c) => {
    const record = records.get(c.req.raw)!;
    record.requestId = c.req.header("x-request-id") || newRequestId();
    return fail(methodNotAllowed(c.req.method, c.req.path, ["POST"]), record, {});
  });

  app.get("/live", () => jsonResponse({ status: "live" }));
  app.get(
    "/ready",
    () =>
      options.ready()
        ? jsonResponse({ status: "ready" })
        : jsonResponse({ status: "not_ready" }, 503),
  );
  app.get("/health", async () => jsonResponse(await options.health()));
  app.get("/metrics", async () => {
    const { contentType, body } = options.metrics
      ? await options.metrics()
      : await _defaultMetrics(registry);
    return new Response(body, { headers: { "content-type": contentType } });
  });
  for (const path of OPS_PATHS) {
    app.all(path, (c) => {
      throw methodNotAllowed(c.req.method, c.req.path, GET_ONLY);
    });
  }
  return app;
}

function _gatewayMetrics(registry: Registry) {
  const requests = (registry.getSingleMetric("mesh_gateway_requests_total") ??
    new Counter({
      name: "mesh_gateway_requests_total",
      help: "Gateway HTTP requests (probes and scrapes excluded), by response status",
      labelNames: ["status"],
      registers: [registry],
    })) as Counter<"status">;
  const duration = (registry.getSingleMetric("mesh_gateway_request_duration_seconds") ??
    new Histogram({
      name: "mesh_gateway_request_duration_seconds",
      help: "Gateway HTTP request time from arrival to the last byte of the answer",
      buckets: DURATION_BUCKETS,
      registers: [registry],
    })) as Histogram;
  return { requests, duration };
}

async function _defaultMetrics(registry: Registry) {
  const merged = registry === defaultRegistry
    ? registry
    : Registry.merge([defaultRegistry, registry]);
  return { contentType: merged.contentType, body: await merged.metrics() };
}

/** What the `/generate` handler needs from the app. */
interface GenerateDeps {
  options: GatewayOptions;
  maxBodyBytes: number;
  bodyTimeoutMs: number;
  timeoutMs: number;
  clock: Clock;
  logger: Logger;
  newRequestId: () => string;
  fail: (error: unknown, record: RequestRecord, fields: LogFields) => Response;
  finish: () => void;
}

async function _handleGenerate(
  req: Request,
  record: RequestRecord,
  deps: GenerateDeps,
): Promise<Response> {
  record.requestId = req.headers.get("x-request-id") || deps.newRequestId();
  const fields = () => ({ request_id: record.requestId, method: "POST", path: "/generate" });
  const fail = (error: unknown) => {
    const reason = req.signal.aborted && !(error instanceof MeshError)
      ? new MeshError("cancelled", "Client disconnected")
      : error;
    return deps.fail(reason, record, fields());
  };

  let body: Record<string, unknown>;
  try {
    body = _parseBody(await _readBody(req, deps.maxBodyBytes, deps.bodyTimeoutMs, deps.clock));
    const bodyId = body["request_id"];
    if (typeof bodyId === "string" && bodyId !== "") {
      if (!VALID_REQUEST_ID.test(bodyId)) {
        throw new MeshError(
          "bad_request",
          'Field "request_id" must be 1 to 256 printable ASCII characters without spaces',
        );
      }
      record.requestId = bodyId;
    }
  } catch (error) {
    return fail(error);
  }

  const requestId = record.requestId;
  const run = new _Run(req, deps.clock, deps.timeoutMs, requestId);
  const ctx: GenerateContext = {
    requestId,
    deadline: run.deadline,
    signal: run.signal,
    headers: req.headers,
  };
  const mode = responseModeOf(req.headers.get("accept"));
  const base = { "x-request-id": requestId };

  let first: IteratorResult<unknown>;
  try {
    run.start(deps.options.generate(body, ctx));
    first = await run.next();
  } catch (error) {
    run.close(run.signal.aborted);
    return fail(error);
  }

  if (mode === "json") {
    const chunks: unknown[] = [];
    try {
      for (let step = first; !step.done; step = await run.next()) chunks.push(step.value);
      run.close(false);
      const value = chunks.length === 0 ? null : chunks.length === 1 ? chunks[0] : chunks;
      record.outcome = "ok";
      return new Response(_json(value), {
        headers: { ...base, "content-type": "application/json" },
      });
    } catch (error) {
      run.close(run.signal.aborted);
      return fail(error);
    }
  }

  const text = mode === "lines" && typeof first.value === "string";
  const contentType = mode === "sse" ? SSE : text ? TEXT : NDJSON;
  const headers = {
    ...base,
    "content-type": contentType,
    // no-transform: proxies must not re-encode (and so buffer) the stream.
    "cache-control": "no-cache, no-transform",
    "x-content-type-options": "nosniff",
  };
  if (first.done) {
    run.close(false);
    record.outcome = "ok";
    return new Response(null, { headers });
  }

  const encode = mode === "sse"
    ? (chunk: unknown) => `data: ${_json(chunk)}\n\n`
    : text
    ? (chunk: unknown) => `${typeof chunk === "string" ? chunk : _json(chunk)}\n`
    : (chunk: unknown) => `${_json(chunk)}\n`;
  const encodeError = mode === "sse"
    ? (error: HttpErrorBody) => `event: error\ndata: ${_json(error)}\n\n`
    : (error: HttpErrorBody) => `${_json({ error })}\n`;

  let firstText: string;
  try {
    firstText = encode(first.value);
  } catch (error) {
    run.close(true);
    return fail(error);
  }

  // The common one-chunk answer, complete at once, goes out as a plain body with a length:
  // no stream to pump, one write. Anything slower streams as below, starting from this step.
  let pending: Promise<IteratorResult<unknown>> | undefined = run.next();
  const soon = await _settledSoon(pending);
  if (soon?.ok && soon.value.done) {
    run.close(false);
    record.outcome = "ok";
    return new Response(firstText, { headers });
  }

  const bytes = new TextEncoder();
  let ended = false;
  const end = (outcome: string) => {
    if (ended) return;
    ended = true;
    record.outcome = outcome;
    deps.finish();
  };
  const endWithError = (
    controller: ReadableStreamDefaultController<Uint8Array>,
    error: unknown,
    stop: boolean,
  ) => {
    run.close(stop);
    if (req.signal.aborted) {
      end("cancelled");
    } else {
      const mapped = toPublicError(error, { logger: deps.logger, fields: fields() });
      controller.enqueue(bytes.encode(encodeError(mapped.body)));
      end(mapped.body.code);
    }
    controller.close();
  };

  record.deferred = true;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes.encode(firstText));
    },
    async pull(controller) {
      let step: IteratorResult<unknown>;
      try {
        step = await (pending ?? run.next());
        pending = undefined;
      } catch (error) {
        pending = undefined;
        if (!ended) endWithError(controller, error, run.signal.aborted);
        return;
      }
      if (ended) return;
      if (step.done) {
        run.close(false);
        end("ok");
        controller.close();
        return;
      }
      let chunk: string;
      try {
        chunk = encode(step.value);
      } catch (error) {
        endWithError(controller, error, true);
        return;
      }
      controller.enqueue(bytes.encode(chunk));
    },
    cancel() {
      run.close(true);
      end("cancelled");
    },
  }, { highWaterMark: 0 });
  return new Response(stream, { headers });
}

/** Awaits `promise` for a few microtask turns only: `undefined` when it has not settled by then. */
async function _settledSoon<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown } | undefined> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  promise.then(
    (value) => (outcome = { ok: true, value }),
    (error) => (outcome = { ok: false, error }),
  );
  for (let turn = 0; turn < 8 && !outcome; turn++) await null;
  return outcome;
}

const encoder = new TextEncoder();

/** Whether an `Authorization` header carries one of the keys (compared in constant time). */
function _authorized(header: string | undefined, keys: readonly Uint8Array[]): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!match) return false;
  const given = encoder.encode(match[1]!);
  let ok = false;
  for (const key of keys) {
    if (key.length === given.length && timingSafeEqual(key, given)) ok = true;
  }
  return ok;
}

async function _readBody(
  req: Request,
  limit: number,
  timeoutMs: number,
  clock: Clock,
): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw payloadTooLarge(limit);
  if (req.body === null) return new Uint8Array();
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  // On time-out the reader is cancelled, which ends the pending (or next) read as "done": the
  // flag, checked after every read, tells that apart from a body that really ended.
  let timedOut = false;
  const timer = clock.setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, timeoutMs);
  for (;;) {
    let step: ReadableStreamReadResult<Uint8Array>;
    try {
      step = await reader.read();
    } catch (error) {
      clock.clearTimeout(timer);
      throw timedOut ? bodyTimeout(timeoutMs) : error;
    }
    if (timedOut) throw bodyTimeout(timeoutMs);
    const { done, value } = step;
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      clock.clearTimeout(timer);
      await reader.cancel().catch(() => {});
      throw payloadTooLarge(limit);
    }
    parts.push(value);
  }
  clock.clearTimeout(timer);
  const all = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.byteLength;
  }
  return all;
}

function _parseBody(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.length === 0) throw new MeshError("bad_request", "Body is empty; send a JSON object");
  const value = parseJsonBody(bytes);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new MeshError("bad_request", "Body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/**
 * One run of `generate()`: its iterator, the abort controller behind `ctx.signal`, the deadline
 * timer and the link to the client's disconnect signal.
 */
class _Run {
  readonly deadline: number;
  readonly #controller = new AbortController();
  readonly #req: Request;
  readonly #clock: Clock;
  readonly #timer: TimerId;
  readonly #aborted: Promise<never>;
  #iterator?: AsyncIterator<unknown>;
  #closed = false;

  constructor(req: Request, clock: Clock, timeoutMs: number, requestId: string) {
    this.#req = req;
    this.#clock = clock;
    this.deadline = clock.now() + timeoutMs;
    const signal = this.#controller.signal;
    this.#aborted = new Promise<never>((_, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
    this.#aborted.catch(() => {});
    this.#timer = clock.setTimeout(() => {
      this.#controller.abort(
        new MeshError(
          "deadline_exceeded",
          `Request "${requestId}" did not finish within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    req.signal.addEventListener("abort", this.#onClientAbort, { once: true });
    if (req.signal.aborted) this.#onClientAbort();
  }

  /** The signal handed to `generate()`. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  #onClientAbort = () => {
    this.#controller.abort(new MeshError("cancelled", "Client disconnected"));
  };

  start(iterable: AsyncIterable<unknown>): void {
    this.#iterator = iterable[Symbol.asyncIterator]();
  }

  /** The next chunk, or the abort reason as soon as the signal aborts. */
  next(): Promise<IteratorResult<unknown>> {
    if (this.#controller.signal.aborted) return Promise.reject(this.#controller.signal.reason);
    const pending = this.#iterator!.next();
    pending.catch(() => {});
    return Promise.race([pending, this.#aborted]);
  }

  /** Ends the run once; with `stop`, aborts the signal and asks the iterator to `return()`. */
  close(stop: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    this.#req.signal.removeEventListener("abort", this.#onClientAbort);
    if (!stop) return;
    if (!this.#controller.signal.aborted) {
      this.#controller.abort(new MeshError("cancelled", "The response stream was cancelled"));
    }
    const iterator = this.#iterator;
    if (iterator?.return) {
      Promise.resolve().then(() => iterator.return!()).catch(() => {});
    }
  }
}
