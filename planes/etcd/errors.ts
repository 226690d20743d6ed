/**
 * Errors from etcd (or from reaching it), as gRPC statuses: messages read
 * `<code> <NAME>: <message>` (`7 PERMISSION_DENIED: etcdserver: ...`), the form etcd users know,
 * since etcd's HTTP gateway passes its errors on as `{code, message}`. Also the few words a
 * failure is reported in (`reasonOf`, `networkReason`).
 *
 * @module
 */

/** gRPC status names, indexed by code. */
const GRPC_CODES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** gRPC status `UNAVAILABLE`: etcd cannot be reached, or the stream broke. */
export const UNAVAILABLE = 14;
/** gRPC status `DEADLINE_EXCEEDED`: no answer in time. */
export const DEADLINE_EXCEEDED = 4;
/** gRPC status `UNAUTHENTICATED`. */
export const UNAUTHENTICATED = 16;

/** etcd's detail when a lease has expired or been revoked. */
export const LEASE_NOT_FOUND = /requested lease not found/;
/** etcd's details when it no longer accepts an auth token (expired, or etcd restarted). */
export const TOKEN_REJECTED = /invalid auth token|auth token is expired|revision in header is old/;

/**
 * An error from etcd (or from reaching it), as a gRPC status: `code`, and etcd's `detail`;
 * the message is `<code> <NAME>: <detail>`.
 */
export class EtcdError extends Error {
  /** The gRPC status code. */
  readonly code: number;
  /** etcd's message, without the status. */
  readonly detail: string;
  constructor(code: number, detail: string, options?: ErrorOptions) {
    super(`${code} ${GRPC_CODES[code] ?? "UNKNOWN"}: ${detail}`, options);
    this.name = "EtcdError";
    this.code = code;
    this.detail = detail;
  }
}

/** `/v3/auth/authenticate` refused the user name or password. */
export class EtcdAuthenticationError extends EtcdError {}

/**
 * The error in an etcd response body (`{"error", "message", "code"}`, or a stream's
 * `{"error": {...}}`), or `undefined` when the body is no error.
 */
// deno-lint-ignore no-explicit-any
export function errorOf(body: any): EtcdError | undefined {
  if (!body || typeof body !== "object" || body.error === undefined) return undefined;
  const error = typeof body.error === "object" && body.error !== null ? body.error : body;
  const code = Number(error.code ?? error.grpc_code ?? 2);
  const message = String(error.message ?? error.error ?? "unknown error");
  return new EtcdError(Number.isFinite(code) ? code : 2, message);
}

/** An error's message, trimmed (anything else as a string). */
export function reasonOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).trim();
}

/** Whether `error` is a `fetch` (or timer) abort: the deadline passed or the call was cancelled. */
export function isAbort(error: unknown): boolean {
  return error instanceof DOMException &&
    (error.name === "AbortError" || error.name === "TimeoutError");
}

/**
 * A fetch failure in a few words. Deno's messages read `error sending request for url (...):
 * client error (Connect): ...`; the URL is in the error already, and TLS failures get the words
 * people (and our hints) know from OpenSSL.
 */
export function networkReason(error: unknown): string {
  // Deno's fetch says "fetch failed", with the reason in `cause`.
  let inner: unknown = error;
  while (
    inner instanceof Error && inner.cause !== undefined && /^fetch failed$/i.test(inner.message)
  ) inner = inner.cause;
  let text = reasonOf(inner).replace(/^error sending request for url \([^)]*\):\s*/, "");
  if (/UnknownIssuer|unknown ?issuer/i.test(text)) {
    text = `unable to verify the first certificate (${text})`;
  } else if (/NotValidForName|not valid for name/i.test(text)) {
    text = `the certificate's names (altnames) do not match the host (${text})`;
  } else if (/CertificateRequired|BadCertificate|alert/i.test(text)) {
    text = `etcd refused the TLS handshake: ECONNRESET, no client certificate accepted (${text})`;
  }
  return text;
}
