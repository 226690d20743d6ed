/**
 * The single place where errors become HTTP responses (DESIGN.md §4): a {@linkcode MeshError}
 * code maps to a status, and a few HTTP-only conditions (unknown path, wrong method, body too
 * large) get the same JSON shape:
 *
 * ```json
 * {"error":{"code":"no_instances","message":"...","retryable":true}}
 * ```
 *
 * Anything that is not a `MeshError` is an unexpected failure: it becomes a 500 with a generic
 * message, and the real error (with its stack) goes to the log, never to the client.
 *
 * @module
 */

import { MeshError, type MeshErrorCode } from "../../protocol/errors.ts";
import type { LogFields, Logger } from "../../utils/logger.ts";

/** Codes that exist only at the HTTP edge, never on the bus. */
export type HttpOnlyErrorCode =
  | "method_not_allowed"
  | "payload_too_large"
  | "request_timeout"
  | "unauthorized";

/** Every code an HTTP error body can carry. */
export type HttpErrorCode = MeshErrorCode | HttpOnlyErrorCode;

/** The `error` member of an HTTP error body (and of an error line or event mid-stream). */
export interface HttpErrorBody {
  code: HttpErrorCode;
  message: string;
  retryable: boolean;
}

/** The status of each mesh error code. `cancelled` is nginx's 499 "client closed request". */
export const STATUS_OF_CODE: Readonly<Record<MeshErrorCode, number>> = {
  bad_request: 400,
  not_found: 404,
  no_instances: 503,
  busy: 503,
  deadline_exceeded: 504,
  cancelled: 499,
  instance_lost: 502,
  internal: 500,
};

/** The message a client sees for an unexpected (non-`MeshError`) failure. */
export const GENERIC_INTERNAL_MESSAGE = "Internal server error";

const JSON_TYPE = "application/json";

/**
 * An error raised by the HTTP layer itself (wrong method, body too large). It is not a
 * `MeshError` because these codes never travel on the bus.
 */
export class HttpError extends Error {
  /** The code in the body. */
  readonly code: HttpOnlyErrorCode;
  /** The status of the response. */
  readonly status: number;
  /** Extra response headers (e.g. `Allow`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: HttpOnlyErrorCode,
    status: number,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
    this.code = code;
    this.status = status;
    this.headers = headers;
  }
}

/** A 405 for `method` on `path`, listing the allowed methods in `Allow`. */
export function methodNotAllowed(
  method: string,
  path: string,
  allow: readonly string[],
): HttpError {
  return new HttpError(
    "method_not_allowed",
    405,
    `Method "${method}" is not allowed on "${path}"; use ${allow.join(" or ")}`,
    { allow: allow.join(", ") },
  );
}

/** A 413 for a request body larger than `limit` bytes. */
export function payloadTooLarge(limit: number): HttpError {
  return new HttpError(
    "payload_too_large",
    413,
    `Request body is larger than the limit of ${limit} bytes`,
  );
}

/** The 404 for a path the gateway does not serve. */
export function unknownPath(method: string, path: string): MeshError {
  return new MeshError("not_found", `No route for ${method} "${path}"`);
}

/** A classified error: what the client sees, with the status it would get before any output. */
export interface PublicError {
  status: number;
  body: HttpErrorBody;
  headers: Record<string, string>;
  /** Whether the failure was unexpected (not a `MeshError` or `HttpError`). */
  unexpected: boolean;
}

/** Options for {@linkcode toPublicError} and {@linkcode errorResponse}. */
export interface ErrorMappingOptions {
  /** The `Retry-After` value for 503 answers, in seconds. Default: 1. */
  retryAfterSeconds?: number;
  /** Where unexpected errors are logged. Default: nowhere. */
  logger?: Logger;
  /** Fields for that log line (the request id, method, path). */
  fields?: LogFields;
}

/**
 * Classifies any thrown value. Unexpected values (not a `MeshError` or `HttpError`) are logged
 * at `error` with their stack, since the client only sees a generic message; expected errors are
 * left to the caller's per-request log line.
 */
export function toPublicError(error: unknown, options: ErrorMappingOptions = {}): PublicError {
  const { logger, fields } = options;
  if (error instanceof HttpError) {
    return {
      status: error.status,
      body: { code: error.code, message: error.message, retryable: false },
      headers: { ...error.headers },
      unexpected: false,
    };
  }
  if (error instanceof MeshError) {
    const status = STATUS_OF_CODE[error.code];
    const headers: Record<string, string> = {};
    if (status === 503) headers["retry-after"] = String(options.retryAfterSeconds ?? 1);
    return { status, body: error.toBody(), headers, unexpected: false };
  }
  logger?.error("unexpected error", {
    ...fields,
    error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    stack: error instanceof Error ? error.stack : undefined,
  });
  return {
    status: 500,
    body: { code: "internal", message: GENERIC_INTERNAL_MESSAGE, retryable: false },
    headers: {},
    unexpected: true,
  };
}

/** A JSON response with `content-type: application/json`. */
export function jsonResponse(
  value: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { ...headers, "content-type": JSON_TYPE },
  });
}

/**
 * The HTTP response for any thrown value: the mapped status, `Retry-After` on 503, `Allow` on
 * 405, and the body `{"error":{"code","message","retryable"}}`.
 *
 * @example
 * ```ts
 * import { MeshError } from "../../protocol/errors.ts";
 * import { errorResponse } from "./http_errors.ts";
 * const res = errorResponse(new MeshError("no_instances", "No workers"), { retryAfterSeconds: 2 });
 * console.assert(res.status === 503 && res.headers.get("retry-after") === "2");
 * ```
 */
export function errorResponse(
  error: unknown,
  options: ErrorMappingOptions & { headers?: Record<string, string> } = {},
): Response {
  const mapped = toPublicError(error, options);
  return jsonResponse({ error: mapped.body }, mapped.status, {
    ...options.headers,
    ...mapped.headers,
  });
}

/** The 408 for a client that did not send its whole body within the limit (slow-loris). */
export function bodyTimeout(ms: number): HttpError {
  return new HttpError(
    "request_timeout",
    408,
    `The request body did not arrive within ${ms} ms`,
    { connection: "close" },
  );
}

/** The 401 for a request without a valid API key. */
export function unauthorized(): HttpError {
  return new HttpError(
    "unauthorized",
    401,
    'A valid API key is required: send "Authorization: Bearer <key>"',
    { "www-authenticate": 'Bearer realm="meshwork"' },
  );
}
