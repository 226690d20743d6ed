/**
 * The request context an endpoint handler receives (`ctx`): the request's id, deadline, signal
 * and attempt, the instance, the config section, a logger that carries the request id, and
 * clients for the declared dependencies bound to this request.
 *
 * @module
 */

import type { CallOptions } from "../protocol/call_options.ts";
import type { Logger } from "../utils/logger.ts";
import type { ComponentClient } from "./caller.ts";
import type { AnyComponent, ClientOptions, DependencyCaller, RequestContext } from "./component.ts";

/** What a request context is built from: the actor that serves the request. */
export interface ContextSource {
  readonly definition: AnyComponent;
  readonly config: Record<string, unknown>;
  readonly instanceId: string;
  readonly hostname: string;
  /** The actor's logger (the context's logger is a child with the request id). */
  readonly log: Logger;
  /** A client to another component (shared per target and options). */
  client(target: string | AnyComponent, options?: ClientOptions): ComponentClient;
}

/** One request as its handler sees it. */
export interface RequestCall {
  readonly requestId: string;
  readonly deadline: number;
  readonly attempt: number;
  readonly resumeFrom: number;
  readonly signal: AbortSignal;
}

/**
 * Builds the context of one request. Its logger and its dependency callers are made on first
 * use; calls through `ctx.deps` inherit the request's id, deadline and signal.
 */
export function requestContext(
  source: ContextSource,
  call: RequestCall,
): RequestContext<Record<string, unknown>> {
  return new _Context(source, call);
}

/**
 * A class, not an object literal with getters: an accessor in a literal is defined anew on every
 * request and keeps the calling function from being optimised.
 */
class _Context implements RequestContext<Record<string, unknown>> {
  readonly requestId: string;
  readonly deadline: number;
  readonly signal: AbortSignal;
  readonly attempt: number;
  readonly resumeFrom: number;
  readonly instanceId: string;
  readonly hostname: string;
  readonly config: Record<string, unknown>;
  #source: ContextSource;
  #call: RequestCall;
  #log: Logger | undefined;
  #deps: Record<string, DependencyCaller> | undefined;

  constructor(source: ContextSource, call: RequestCall) {
    this.requestId = call.requestId;
    this.deadline = call.deadline;
    this.signal = call.signal;
    this.attempt = call.attempt;
    this.resumeFrom = call.resumeFrom;
    this.instanceId = source.instanceId;
    this.hostname = source.hostname;
    this.config = source.config;
    this.#source = source;
    this.#call = call;
  }

  /** A logger whose lines carry the request id (made on first use). */
  get log(): Logger {
    return (this.#log ??= this.#source.log.child({ request_id: this.requestId }));
  }

  /** Callers of the declared dependencies, bound to this request (made on first use). */
  get deps(): Record<string, DependencyCaller> {
    return (this.#deps ??= _dependencyCallers(this.#source, this.#call));
  }
}

/** The callers of the declared dependencies, bound to one request. */
function _dependencyCallers(
  source: ContextSource,
  call: RequestCall,
): Record<string, DependencyCaller> {
  const { requestId, deadline, signal } = call;
  const bound = (options?: CallOptions): CallOptions => ({
    requestId,
    deadline,
    signal,
    ...options,
  });
  const deps: Record<string, DependencyCaller> = {};
  for (const [key, dep] of Object.entries<AnyComponent>(source.definition.depends ?? {})) {
    const client = source.client(dep);
    deps[key] = {
      generate: (req, options) => client.generate(req, bound(options)),
      call: (endpoint, req, options) =>
        source.client(dep, { endpoint }).generate(req, bound(options)),
    };
  }
  return deps;
}
