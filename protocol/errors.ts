/**
 * The one error class that crosses the mesh. Its `code` travels in `error` frames and maps to an
 * HTTP status at the gateway only (`gateway/http/http_errors.ts`).
 *
 * @module
 */

/** The error codes of the request protocol (DESIGN.md §4). */
export type MeshErrorCode =
  | "bad_request"
  | "not_found"
  | "no_instances"
  | "busy"
  | "deadline_exceeded"
  | "cancelled"
  | "instance_lost"
  | "internal";

const CODES: ReadonlySet<string> = new Set<MeshErrorCode>([
  "bad_request",
  "not_found",
  "no_instances",
  "busy",
  "deadline_exceeded",
  "cancelled",
  "instance_lost",
  "internal",
]);

/** Whether a string is a known error code. */
export function isMeshErrorCode(code: unknown): code is MeshErrorCode {
  return typeof code === "string" && CODES.has(code);
}

/** The JSON shape of an error on the wire and in HTTP bodies. */
export interface MeshErrorBody {
  code: MeshErrorCode;
  message: string;
  retryable: boolean;
}

/**
 * An error that a caller is expected to catch: a request that failed for a reason the mesh can
 * name.
 *
 * @example
 * ```ts
 * import { MeshError } from "./errors.ts";
 * const error = new MeshError("bad_request", 'Field "prompt" must be a string');
 * console.assert(error.code === "bad_request" && !error.retryable);
 * ```
 */
export class MeshError extends Error {
  /** The protocol code. */
  readonly code: MeshErrorCode;
  /** Whether trying again (elsewhere or later) may succeed. */
  readonly retryable: boolean;

  constructor(
    code: MeshErrorCode,
    message: string,
    options?: ErrorOptions & { retryable?: boolean },
  ) {
    super(message, options);
    this.name = "MeshError";
    this.code = code;
    this.retryable = options?.retryable ??
      (code === "no_instances" || code === "busy" || code === "instance_lost");
  }

  /** The wire and HTTP body form. */
  toBody(): MeshErrorBody {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }

  /** Rebuilds an error from its body; unknown shapes become `internal`. */
  static fromBody(body: unknown): MeshError {
    if (body && typeof body === "object") {
      const { code, message, retryable } = body as Record<string, unknown>;
      if (isMeshErrorCode(code)) {
        return new MeshError(code, typeof message === "string" ? message : code, {
          retryable: typeof retryable === "boolean" ? retryable : undefined,
        });
      }
    }
    return new MeshError("internal", "Malformed error frame");
  }

  /** Any thrown value as a MeshError: other errors become `internal` with their message. */
  static from(error: unknown): MeshError {
    if (error instanceof MeshError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new MeshError("internal", message || "Internal error", { cause: error });
  }
}
