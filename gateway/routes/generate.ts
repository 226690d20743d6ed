/**
 * `POST /generate`: the one fronted endpoint. The handler reads top to bottom: parse the body
 * (`../http/body.ts`, `./generate/request_id.ts`), call `generate()` and wait for its first chunk
 * or error (`./generate/generate_run.ts`), then answer in the mode `Accept` asks for
 * (`./generate/response_modes.ts`, `./generate/streamed_answer.ts`). Any other method gets a
 * 405 with `Allow: POST`.
 *
 * The status waits for the first chunk (or the first error), so an error raised before any
 * output gets its own status (400, 503 with `Retry-After`, 504...).
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { MeshError } from "../../protocol/errors.ts";
import type { Clock } from "../../utils/clock.ts";
import type { LogFields, Logger } from "../../utils/logger.ts";
import { parseBody, readBody } from "../http/body.ts";
import { GenerateRun, type RunTimeouts } from "./generate/generate_run.ts";
import { TimeoutQueue } from "../../utils/timeout_queue.ts";
import { jsonResponse, methodNotAllowed, toPublicError } from "../http/http_errors.ts";
import { requestRecordOf } from "../middleware/request_log.ts";
import { bodyRequestId, headerRequestId } from "./generate/request_id.ts";
import { answerBuffered, type AnswerContext, responseModeOf } from "./generate/response_modes.ts";
import { answerStreamed } from "./generate/streamed_answer.ts";

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

/** What the `/generate` route needs: the gateway's options, defaults filled in. */
export interface GenerateRouteOptions {
  /** Runs the fronted endpoint; see `GatewayOptions.generate`. */
  generate(body: unknown, ctx: GenerateContext): AsyncIterable<unknown>;
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  /** Time the client has to send its whole body. */
  bodyTimeoutMs: number;
  /** Time from arrival to the deadline. */
  requestTimeoutMs: number;
  /** `Retry-After` on 503 answers, in seconds. */
  retryAfterSeconds: number;
  /** Where unexpected failures are logged. */
  logger: Logger;
  /** Makes a request id when the client gives none. */
  newRequestId(): string;
  /** The clock of the deadline and the body time-out. */
  clock: Clock;
}

/** The path of the endpoint. */
export const GENERATE_PATH = "/generate";

/** The `/generate` routes: `POST` runs `generate()`, any other method is a 405. */
export function generateRoutes(options: GenerateRouteOptions): Hono {
  const app = new Hono();
  const timeouts: _Timeouts = {
    body: new TimeoutQueue(options.clock, options.bodyTimeoutMs),
    deadline: new TimeoutQueue(options.clock, options.requestTimeoutMs),
    clientWatch: new TimeoutQueue(options.clock, CLIENT_WATCH_AFTER_MS),
  };
  app.post(GENERATE_PATH, (c) => _handleGenerate(c, options, timeouts));
  app.all(GENERATE_PATH, (c) => {
    const record = requestRecordOf(c);
    record.requestId = headerRequestId(c.req.raw.headers, options.newRequestId);
    return _failure(methodNotAllowed(c.req.method, c.req.path, ["POST"]), c, options, {});
  });
  return app;
}

/**
 * How long a request waits for a step of its answer before the client's disconnect is watched
 * (see `GenerateRun`): the longest a client that went away can go unnoticed.
 */
export const CLIENT_WATCH_AFTER_MS = 50;

/** The route's shared time-outs: one queue (and one timer) each, not one timer per request. */
interface _Timeouts extends RunTimeouts {
  body: TimeoutQueue;
}

async function _handleGenerate(
  c: Context,
  options: GenerateRouteOptions,
  timeouts: _Timeouts,
): Promise<Response> {
  const req = c.req.raw;
  const record = requestRecordOf(c);
  // The header's id for now; a fresh one is made only when neither it nor the body has one.
  record.requestId = req.headers.get("x-request-id") || undefined;
  const fields = () => ({ request_id: record.requestId, method: "POST", path: GENERATE_PATH });
  const fail = (error: unknown) => {
    record.requestId ??= options.newRequestId();
    const reason = req.signal.aborted && !(error instanceof MeshError)
      ? new MeshError("cancelled", "Client disconnected")
      : error;
    return _failure(reason, c, options, fields());
  };

  // 1. Parse: the body within its limits, and the request id it may carry.
  let body: Record<string, unknown>;
  try {
    body = parseBody(
      await readBody(req, { maxBytes: options.maxBodyBytes, timeouts: timeouts.body }),
    );
    record.requestId = bodyRequestId(body) ?? record.requestId ?? options.newRequestId();
  } catch (error) {
    return fail(error);
  }

  // 2. Call: start generate() and wait for its first step.
  const requestId = record.requestId!;
  const run = new GenerateRun(req, timeouts, options.clock.now(), requestId);
  const ctx: GenerateContext = {
    requestId,
    deadline: run.deadline,
    signal: run.signal,
    headers: req.headers,
  };
  let first: IteratorResult<unknown>;
  try {
    run.start(options.generate(body, ctx));
    first = await run.next();
  } catch (error) {
    run.close(run.signal.aborted);
    return fail(error);
  }

  // 3. Answer, in the mode Accept asks for.
  const answer: AnswerContext = {
    run,
    requestId,
    record,
    // A function, not a getter: `req.signal` costs something to make and only a failure
    // mid-stream asks; and an accessor in an object literal keeps this handler from being
    // optimised (measured: about 10 µs per request).
    clientGone: () => req.signal.aborted,
    fail,
    logger: options.logger,
    fields,
  };
  const mode = responseModeOf(req.headers.get("accept"));
  return mode === "json" ? answerBuffered(first, answer) : answerStreamed(mode, first, answer);
}

/** The error answer for the request of `c`, with its status; sets the record's outcome. */
function _failure(
  error: unknown,
  c: Context,
  options: GenerateRouteOptions,
  fields: LogFields,
): Response {
  const record = requestRecordOf(c);
  const mapped = toPublicError(error, {
    retryAfterSeconds: options.retryAfterSeconds,
    logger: options.logger,
    fields,
  });
  record.outcome = mapped.body.code;
  const headers = { ...mapped.headers };
  if (record.requestId !== undefined) headers["x-request-id"] = record.requestId;
  return jsonResponse({ error: mapped.body }, mapped.status, headers);
}
