/**
 * The request id of a `/generate` request: the body's `request_id` when it gives a usable one,
 * else the `x-request-id` header, else a fresh id. The id is echoed in the `x-request-id`
 * response header, so it must be printable ASCII without spaces.
 *
 * @module
 */

import { MeshError } from "../../../protocol/errors.ts";

const _VALID_REQUEST_ID = /^[\x21-\x7e]{1,256}$/;

/** The id from the `x-request-id` header, or `newRequestId()` when there is none. */
export function headerRequestId(headers: Headers, newRequestId: () => string): string {
  return headers.get("x-request-id") || newRequestId();
}

/**
 * The body's `request_id` when it is a non-empty string, else `undefined`. Throws a
 * `bad_request` MeshError for one that could not be echoed in a header.
 */
export function bodyRequestId(body: Record<string, unknown>): string | undefined {
  const bodyId = body["request_id"];
  if (typeof bodyId !== "string" || bodyId === "") return undefined;
  if (!_VALID_REQUEST_ID.test(bodyId)) {
    throw new MeshError(
      "bad_request",
      'Field "request_id" must be 1 to 256 printable ASCII characters without spaces',
    );
  }
  return bodyId;
}
