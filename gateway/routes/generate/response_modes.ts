/**
 * How a `/generate` answer is written, chosen by `Accept` (a case-insensitive substring match,
 * first rule wins):
 *
 * - `text/event-stream`: SSE, `data: <JSON>\n\n` per chunk; a later failure is an
 *   `event: error` whose data is `{"code","message","retryable"}`.
 * - `application/x-ndjson`: NDJSON, one JSON value per line (strings JSON-encoded too).
 * - `application/json`: buffered; one chunk is the body, several are a JSON array, none is
 *   `null` (200). Every failure, even after the first chunk, gets its own status.
 * - anything else (none, `*\/*`, `text/plain`): lines. When the first chunk is a string the
 *   answer is `text/plain; charset=utf-8` and string chunks are written raw; otherwise it is
 *   NDJSON. Each chunk is followed by `\n`. The common one-value answer, complete at once, is
 *   plain `application/json` instead (no newline; a `Content-Length`).
 *
 * This file picks the mode, holds the streamed formats and writes the buffered JSON answer; the
 * streamed answer is in `./streamed_answer.ts`.
 *
 * @module
 */

import type { LogFields, Logger } from "../../../utils/logger.ts";
import type { GenerateRun } from "./generate_run.ts";
import type { HttpErrorBody } from "../../http/http_errors.ts";
import type { RequestRecord } from "../../middleware/request_log.ts";

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

/** What writing an answer needs from the `/generate` handler, once the first step is known. */
export interface AnswerContext {
  /** The run of `generate()`, its first step already taken. */
  run: GenerateRun;
  /** The request id, echoed in `x-request-id`. */
  requestId: string;
  /** The request's record: the answer sets its outcome, and a stream reports its own end. */
  record: RequestRecord;
  /** Whether the client has gone (its request signal aborted). */
  clientGone(): boolean;
  /** The error answer, with its own status, for a failure before the status is sent. */
  fail(error: unknown): Response;
  /** Where an unexpected failure mid-stream is logged, and with which fields. */
  logger: Logger;
  fields(): LogFields;
}

/** How the chunks of a streamed answer (every mode but `json`) are written. */
export interface StreamFormat {
  contentType: string;
  /** One chunk, with its separator. */
  encode(chunk: unknown): string;
  /** The final error line or event of a failure after the first chunk. */
  encodeError(error: HttpErrorBody): string;
}

const _NDJSON = "application/x-ndjson";
const _TEXT = "text/plain; charset=utf-8";
const _SSE = "text/event-stream";

/** The format of a streamed answer in `mode` whose first chunk is `first`. */
export function streamFormat(mode: Exclude<ResponseMode, "json">, first: unknown): StreamFormat {
  if (mode === "sse") {
    return {
      contentType: _SSE,
      encode: (chunk) => `data: ${jsonText(chunk)}\n\n`,
      encodeError: (error) => `event: error\ndata: ${jsonText(error)}\n\n`,
    };
  }
  const encodeError = (error: HttpErrorBody) => `${jsonText({ error })}\n`;
  if (mode === "lines" && typeof first === "string") {
    return {
      contentType: _TEXT,
      encode: (chunk) => `${typeof chunk === "string" ? chunk : jsonText(chunk)}\n`,
      encodeError,
    };
  }
  return { contentType: _NDJSON, encode: (chunk) => `${jsonText(chunk)}\n`, encodeError };
}

/** `JSON.stringify` that writes `null` for values JSON cannot express (`undefined`). */
export function jsonText(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

/**
 * The buffered `json` answer: every chunk is collected first, so any failure gets its own
 * status. One chunk is the body, several are an array, none is `null`.
 */
export async function answerBuffered(
  first: IteratorResult<unknown>,
  ctx: AnswerContext,
): Promise<Response> {
  const { run } = ctx;
  const chunks: unknown[] = [];
  try {
    for (let step = first; !step.done; step = await run.next()) chunks.push(step.value);
    run.close(false);
    const value = chunks.length === 0 ? null : chunks.length === 1 ? chunks[0] : chunks;
    ctx.record.outcome = "ok";
    return new Response(jsonText(value), {
      headers: { "x-request-id": ctx.requestId, "content-type": "application/json" },
    });
  } catch (error) {
    run.close(run.signal.aborted);
    return ctx.fail(error);
  }
}
