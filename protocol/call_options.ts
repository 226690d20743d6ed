/**
 * The options of a call from one component to another, as both sides see them: the caller's
 * per-call options and wait options (router/ takes them, actors/ hands them on), and the identity
 * of one attempt served in the same process (`LocalCall`).
 *
 * @module
 */

/**
 * Options for one call. A handler's request context fits as it is (`client.generate(req, ctx)`):
 * the call then shares the request's id, deadline and cancellation.
 */
export interface CallOptions {
  /** Carried across hops and in logs. Default: a fresh random id. */
  requestId?: string;
  /** Unix ms. Default: now + the client's `timeoutMs`. */
  deadline?: number;
  /** Cancels the call (the instance's handler sees its own signal abort). */
  signal?: AbortSignal;
  /** Overrides the client's policy for this call. */
  policy?: string;
  /** Sends to this instance only (what `direct()` does). */
  directTo?: string;
  /** W3C trace context to pass along. */
  traceparent?: string;
  /** The routing key for `consistent_hash`. Default: the request's `hashKey` field. */
  key?: string;
}

/** Options for waiting until enough instances are live (`waitForInstances`). */
export interface WaitOptions {
  /** Give up after this long (`no_instances`). Default: wait until `signal` aborts. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** What the log lines call the instances. Default `workers`. */
  noun?: string;
  /** Logs nothing (a request that waits, while a start hook already logs the progress). */
  quiet?: boolean;
}

/** One attempt of a call served by an instance in the same process (the `prefer_local` path). */
export interface LocalCall {
  requestId: string;
  deadline: number;
  attempt: number;
  /** Chunks the caller already has (a resumed stream). */
  resumeFrom?: number;
  signal?: AbortSignal;
}
