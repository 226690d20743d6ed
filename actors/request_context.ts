/**
 * The request context an endpoint handler receives (`ctx`): the request's id, deadline, signal
 * and attempt, the instance, the config section, a logger that carries the request id, and
 * clients for the declared dependencies bound to this request, and the data plane (`ctx.data`).
 *
 * @module
 */

import type { CallOptions } from "../protocol/call_options.ts";
import type { Logger } from "../utils/logger.ts";
import type { ComponentClient } from "./caller.ts";
import type {
  AnyComponent,
  ClientOptions,
  DependencyCaller,
  RequestContext,
  RequestData,
} from "./component.ts";
import {
  DataNotHeldError,
  type DataPlane,
  DataPlaneClosedError,
  DataPlaneError,
  type Descriptor,
  HolderUnreachableError,
  type PutOptions,
} from "../planes/data_plane.ts";
import { MeshError } from "../protocol/errors.ts";

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
  /** The process's data plane (`ctx.data`); without it, `ctx.data` throws. */
  readonly data?: DataSource;
}

/** Where `ctx.data` comes from: the runtime's data plane (made on first use) and its threshold. */
export interface DataSource {
  /** Payload size from which handlers should send a descriptor (`data_plane.threshold`). */
  readonly threshold: number;
  /** The data plane, made on the first call (so a process that never uses it never listens). */
  plane(): DataPlane;
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
  #data: RequestData | undefined;

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

  /** The data plane, bound to this request's signal (made on first use). */
  get data(): RequestData {
    const source = this.#source.data;
    if (!source) throw new MeshError("internal", "This runtime has no data plane");
    return (this.#data ??= new _RequestData(source, this.signal));
  }
}

/** `ctx.data`: puts in the process's data plane, pulls with the request's signal. */
class _RequestData implements RequestData {
  readonly threshold: number;
  #source: DataSource;
  #signal: AbortSignal;

  constructor(source: DataSource, signal: AbortSignal) {
    this.threshold = source.threshold;
    this.#source = source;
    this.#signal = signal;
  }

  put(bytes: Uint8Array, options?: PutOptions): Descriptor {
    return this.#source.plane().put(bytes, options);
  }

  async pull(descriptor: Descriptor): Promise<Uint8Array> {
    const signal = this.#signal;
    try {
      return await this.#source.plane().pull(descriptor, { signal });
    } catch (error) {
      throw signal.aborted && error === signal.reason ? error : dataPlaneMeshError(error);
    }
  }
}

/**
 * A data-plane failure as the `MeshError` its caller gets (the holder's address stays in the
 * message): not held (already pulled, expired, forged key) → `not_found`; holder unreachable or
 * the transfer broke off → `instance_lost` (not retryable: the bytes live on that holder only);
 * no descriptor → `bad_request`; refused credentials, a bad frame, a closed plane → `internal`.
 */
export function dataPlaneMeshError(error: unknown): unknown {
  if (error instanceof MeshError) return error;
  const options = { cause: error, retryable: false };
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof DataNotHeldError) return new MeshError("not_found", message, options);
  if (error instanceof HolderUnreachableError) {
    return new MeshError("instance_lost", message, options);
  }
  if (error instanceof DataPlaneError || error instanceof DataPlaneClosedError) {
    return new MeshError("internal", message, options); // refused, bad frame, closed plane
  }
  if (error instanceof TypeError) return new MeshError("bad_request", message, options);
  return error;
}

/** The callers of the declared dependencies, bound to one request. */
function _dependencyCallers(
  source: ContextSource,
  call: RequestCall,
): Record<string, DependencyCaller> {
  const { requestId, deadline, signal } = call;
  const bound = (options?: CallOptions): CallOptions =>
    options === undefined
      ? { requestId, deadline, signal }
      : { requestId, deadline, signal, ...options };
  const deps: Record<string, DependencyCaller> = {};
  for (const [key, dep] of _dependencies(source.definition)) {
    const client = source.client(dep);
    deps[key] = {
      generate: (req, options) => client.generate(req, bound(options)),
      call: (endpoint, req, options) =>
        source.client(dep, { endpoint }).generate(req, bound(options)),
    };
  }
  return deps;
}

/** A component's declared dependencies as `[key, component]` pairs, listed once per component. */
const _dependencyLists = new WeakMap<AnyComponent, [string, AnyComponent][]>();

function _dependencies(definition: AnyComponent): [string, AnyComponent][] {
  let list = _dependencyLists.get(definition);
  if (list === undefined) {
    list = Object.entries<AnyComponent>(definition.depends ?? {});
    _dependencyLists.set(definition, list);
  }
  return list;
}
