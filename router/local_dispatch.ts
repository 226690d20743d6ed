/**
 * Local dispatch: what the router needs of an instance that runs in this process, so that a call
 * to it skips the bus (`preferLocal`). The runtime plugs its actors in; they have this shape.
 *
 * @module
 */

import type { LocalCall } from "../protocol/call_options.ts";

/**
 * An instance in this process that serves calls directly: same deadline, cancel and streaming
 * semantics as over the bus, no encoding.
 */
export interface LocalEndpoint {
  /** Whether the instance takes requests now. */
  readonly running: boolean;
  /**
   * Serves one attempt of a call. Throws a `NotDeliveredError` when the instance cannot take it
   * (gone, or no such endpoint), a `busy` `MeshError` at its in-flight limit.
   */
  dispatchLocal(endpoint: string, request: unknown, call: LocalCall): AsyncIterable<unknown>;
}
