/**
 * The per-request bookkeeping middleware: it times each request, counts it in the gateway's
 * metrics (probes and scrapes excluded) and writes one log line when the answer is complete —
 * `debug`, or `warn` on a failure. A handler whose body streams on after it returns calls
 * {@linkcode RequestRecord.defer} and reports the end itself.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import type { Logger } from "../../utils/logger.ts";
import type { GatewayMetrics } from "../http/gateway_metrics.ts";

/** What a handler tells the request log about its request. */
export interface RequestRecord {
  /** The request id, once the handler knows it. */
  requestId?: string;
  /** `ok`, `cancelled` or an error code. */
  outcome?: string;
  /**
   * Takes the log line over from the middleware, for an answer that streams on after the
   * handler returns: call the function it returns, with the status, when the stream ends.
   */
  defer(): (status: number) => void;
}

declare module "hono" {
  interface ContextVariableMap {
    requestRecord: RequestRecord;
  }
}

/** Options for {@linkcode requestLog}. */
export interface RequestLogOptions {
  /** Where the per-request lines go. */
  logger: Logger;
  /** Where requests are counted and timed. */
  metrics: GatewayMetrics;
  /** Paths of probes and scrapes: not counted, and logged as failed only on a 500. */
  probePaths: ReadonlySet<string>;
}

/**
 * The request log middleware; attach it first with `app.use("*", ...)`, then read the record
 * in a handler with {@linkcode requestRecordOf}.
 *
 * The duration is measured with `performance.now()`, not the injected clock: it is a latency
 * observation for the histogram, not a policy that tests need to drive.
 */
export function requestLog(options: RequestLogOptions): MiddlewareHandler {
  return createMiddleware(async (c, next) => {
    const start = performance.now();
    const method = c.req.method;
    const path = c.req.path;
    let deferred = false;
    const record: RequestRecord = {
      defer() {
        deferred = true;
        return (status) => _report(options, { method, path, status, start, record });
      },
    };
    c.set("requestRecord", record);
    await next();
    if (!deferred) _report(options, { method, path, status: c.res.status, start, record });
  });
}

/** The record that {@linkcode requestLog} keeps for the request of `c`. */
export function requestRecordOf(c: Context): RequestRecord {
  return c.get("requestRecord");
}

interface _Ended {
  method: string;
  path: string;
  status: number;
  start: number;
  record: RequestRecord;
}

function _report(options: RequestLogOptions, ended: _Ended): void {
  const { method, path, status, record } = ended;
  const ms = performance.now() - ended.start;
  const probe = options.probePaths.has(path);
  if (!probe) {
    options.metrics.requests.inc({ status: String(status) });
    options.metrics.duration.observe(ms / 1000);
  }
  // A not-ready probe (503) is routine; a failure mid-stream hides behind a 200.
  const failed = probe ? status === 500 : status >= 500 || (record.outcome !== undefined &&
    record.outcome !== "ok" && record.outcome !== "cancelled");
  options.logger[failed ? "warn" : "debug"]("request", {
    method,
    path,
    status,
    ms: Math.round(ms * 10) / 10,
    request_id: record.requestId,
    outcome: record.outcome,
  });
}
