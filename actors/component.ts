/**
 * The programming model: a component is a named set of endpoints with a typed config section and
 * the components it depends on. Every running instance of a component is an actor.
 *
 * @example
 * ```ts
 * import { component } from "./component.ts";
 * import { defineSchema, string } from "./config_schema.ts";
 *
 * export const Greeter = component({
 *   name: "Greeter",
 *   config: defineSchema({ greeting: string({ default: "Hello" }) }),
 *   endpoints: {
 *     async *generate(request: { name: string }, ctx) {
 *       yield `${ctx.config.greeting} ${request.name}!`;
 *     },
 *   },
 * });
 * ```
 *
 * @module
 */

import type { ConfigSchema, ConfigValues } from "./config_schema.ts";
import type { Logger } from "../utils/logger.ts";
import type { CallOptions } from "../protocol/call_options.ts";
import type { ComponentClient } from "./caller.ts";
import type { Descriptor, PutOptions } from "../planes/data_plane.ts";
import type { SharedQueue } from "./shared_queue.ts";

/** Any component, whatever its config and dependencies. */
// deno-lint-ignore no-explicit-any
export type AnyComponent = ComponentDefinition<any, any>;

/** The declared dependencies of a component: the keys name them in `ctx.deps`. */
export type DependsMap = Record<string, AnyComponent>;

/** What an endpoint handler receives besides the request. */
export interface RequestContext<C = Record<string, unknown>, D extends DependsMap = DependsMap> {
  /** The request id, carried across every hop and in every log line. */
  readonly requestId: string;
  /** Unix ms after which the answer is useless. Downstream calls inherit it. */
  readonly deadline: number;
  /** Aborts when the caller cancels, goes away, or the deadline passes. */
  readonly signal: AbortSignal;
  /** 1 for the first try, then 2, 3... when the router retries elsewhere. */
  readonly attempt: number;
  /**
   * For a `resumable` component: how many chunks the caller already has from an instance that was
   * lost mid-stream. The handler yields from that chunk on (0 for a fresh request).
   */
  readonly resumeFrom: number;
  /** This instance's id. */
  readonly instanceId: string;
  /** The host this instance runs on. */
  readonly hostname: string;
  /** This component's config section, defaults filled. */
  readonly config: C;
  /** A logger whose lines carry the component, instance and request id. */
  readonly log: Logger;
  /**
   * Clients for the components this one depends on, bound to this request: calls made through
   * them inherit its deadline and are cancelled with it.
   */
  readonly deps: { readonly [K in keyof D]: DependencyCaller };
  /**
   * The process's data plane, for payloads too large for a message (made on first use): put
   * bytes and send the descriptor instead; pull the bytes a descriptor names, straight from the
   * process that holds them.
   */
  readonly data: RequestData;
}

/**
 * The data plane as a handler sees it (`ctx.data`). Large payloads travel by descriptor: the
 * producer puts the bytes and sends the small {@linkcode Descriptor} in its request or answer;
 * whoever needs the bytes pulls them from the holder, once (by default). A descriptor can be
 * handed on unread.
 */
export interface RequestData {
  /** Payloads larger than this many bytes should travel by descriptor (`data_plane.threshold`). */
  readonly threshold: number;
  /**
   * Keeps `bytes` (not copied: do not change them afterwards) in this process's data plane until
   * pulled (once by default) or until the TTL (`data_plane.ttl_s`), and returns their descriptor.
   */
  put(bytes: Uint8Array, options?: PutOptions): Descriptor;
  /**
   * The bytes a descriptor names, pulled from its holder; aborted with the request. A payload no
   * longer held (already pulled, expired, or never put) is a `not_found` `MeshError`; an
   * unreachable holder `instance_lost`; refused credentials and broken transfers `internal`; a
   * value that is no descriptor `bad_request`. The message names the holder's address.
   */
  pull(descriptor: Descriptor): Promise<Uint8Array>;
}

/** A dependency as seen from inside a request: call it as if it were local. */
export interface DependencyCaller {
  /** Calls the dependency's `generate` endpoint with its default routing policy. */
  generate(request: unknown, options?: CallOptions): AsyncIterable<unknown>;
  /** Calls another endpoint of the dependency. */
  call(endpoint: string, request: unknown, options?: CallOptions): AsyncIterable<unknown>;
}

/**
 * An endpoint handler: an async generator yielding the chunks of the answer. A handler may also
 * return a single value (or a promise of one) for a one-chunk answer. Throwing a `MeshError`
 * fails the request with its code; any other error fails it as `internal`.
 */
export type EndpointHandler<
  // deno-lint-ignore no-explicit-any
  Req = any,
  C = Record<string, unknown>,
  D extends DependsMap = DependsMap,
> = (
  request: Req,
  ctx: RequestContext<C, D>,
) => AsyncIterable<unknown> | Iterable<unknown> | Promise<unknown> | unknown;

/** The endpoints of a component, by name. */
export type Endpoints<C = Record<string, unknown>, D extends DependsMap = DependsMap> = Record<
  string,
  // deno-lint-ignore no-explicit-any
  EndpointHandler<any, C, D>
>;

/** What a start hook receives. */
export interface StartContext<C = Record<string, unknown>, D extends DependsMap = DependsMap> {
  readonly namespace: string;
  readonly instanceId: string;
  readonly hostname: string;
  readonly config: C;
  readonly log: Logger;
  /** Clients for the declared dependencies (default routing policy). */
  readonly deps: { readonly [K in keyof D]: ComponentClient };
  /**
   * The seeds' runtime handle:
   * `await ctx.runtime.namespace(ns).component("Backend").endpoint("generate").client()` resolves
   * with a client once the instance view has loaded.
   */
  readonly runtime: RuntimeHandle;
  /** An explicit client to any endpoint: `client("Worker")`, `client("ns/Worker/generate")`. */
  client(target: string | AnyComponent, options?: ClientOptions): ComponentClient;
  /**
   * Reports that this instance cannot go on (a lost connection, a dead background loop): it
   * deregisters, its in-flight callers get `instance_lost`, and its supervisor starts a fresh
   * instance with backoff.
   */
  fail(error: unknown): void;
  /**
   * Reports that this instance has finished its work (a queue taker whose queue has ended): it
   * stops gracefully and, with `ServiceArgs.restart` `transient` or `temporary`, is not restarted;
   * a process whose instances have all finished exits 0.
   */
  done(): void;
  /**
   * The namespace's shared queue `name` (HPE Dragon's queues): put values on it, take them in
   * any number of instances, anywhere; see `actors/shared_queue.ts`.
   */
  queue<T = unknown>(name: string): SharedQueue<T>;
  /**
   * A counter of this instance (`name`: `[a-z][a-z0-9_]*`), exported on `/metrics` as
   * `mesh_<name>_total{component,instance}`: `const tokens = ctx.counter("tokens", "Tokens
   * generated")`, then `tokens.add(n)` in a handler. The same name gives the same counter.
   */
  counter(name: string, help: string): { add(n: number): void };
  /** Aborts when the instance stops (a start hook that waits should give up then). */
  readonly signal: AbortSignal;
}

/** `runtime.namespace(ns).component(name).endpoint(endpoint).client(options)`. */
export interface RuntimeHandle {
  namespace(name: string): {
    component(name: string): {
      endpoint(name: string): {
        client(options?: Omit<ClientOptions, "endpoint">): Promise<ComponentClient>;
      };
    };
  };
}

/** Options for explicit clients. */
export interface ClientOptions {
  /** The endpoint; default `generate`. */
  endpoint?: string;
  /** The default routing policy of the client (`round_robin`, `random`, ...). */
  policy?: string;
}

/** A component, as declared by its author. */
export interface ComponentDefinition<
  S extends ConfigSchema = ConfigSchema,
  D extends DependsMap = DependsMap,
> {
  /** The component name (`[A-Za-z0-9_-]+`), also its config section name. */
  readonly name: string;
  /** The config section's schema. */
  readonly config?: S;
  /** Components this one calls: the keys name them in `ctx.deps`. */
  readonly depends?: D;
  /** The endpoints, when they need no start-up work. */
  readonly endpoints?: Endpoints<ConfigValues<S>, D>;
  /**
   * The async start hook (the seeds' `@async_on_start`): build clients, wait for workers, then
   * return the endpoints (closures keep per-instance state). The instance is registered, and so
   * reachable, only after it resolves.
   */
  readonly start?: (
    ctx: StartContext<ConfigValues<S>, D>,
  ) => Endpoints<ConfigValues<S>, D> | Promise<Endpoints<ConfigValues<S>, D>>;
  /** Called when the instance stops, after in-flight requests finish. */
  readonly stop?: () => Promise<void> | void;
  /**
   * The endpoints can resume a stream: when an instance is lost mid-stream, the caller sends the
   * request to another instance with `ctx.resumeFrom` set to the chunks it already has, and the
   * handler yields from there. The caller sees one complete stream. Default false.
   */
  readonly resumable?: boolean;
  /**
   * When set, the HTTP gateway fronts this component's `generate` endpoint (the seeds' Frontend),
   * listening on the config's `port` and `host` keys.
   */
  readonly http?: boolean;
}

/**
 * Declares a component. Validates the name and that it has endpoints or a start hook.
 */
export function component<S extends ConfigSchema, D extends DependsMap = Record<never, never>>(
  definition: ComponentDefinition<S, D>,
): ComponentDefinition<S, D> {
  if (!/^[A-Za-z0-9_-]+$/.test(definition.name)) {
    throw new TypeError(
      `Invalid component name ${
        JSON.stringify(definition.name)
      }: use letters, digits, "_" and "-" only`,
    );
  }
  if (!definition.endpoints && !definition.start) {
    throw new TypeError(`Component "${definition.name}" has neither endpoints nor a start hook`);
  }
  return definition;
}

/** A runnable graph: the components one config file can deploy. */
export interface Graph {
  /** The namespace when the config names none. */
  readonly namespace: string;
  readonly components: readonly AnyComponent[];
}

/** Declares a graph, checking that component names are unique and dependencies are in it. */
export function graph(
  namespace: string,
  components: readonly AnyComponent[],
): Graph {
  const names = new Set<string>();
  for (const c of components) {
    if (names.has(c.name)) throw new TypeError(`Component "${c.name}" appears twice in the graph`);
    names.add(c.name);
  }
  for (const c of components) {
    for (const dep of Object.values<AnyComponent>(c.depends ?? {})) {
      if (!names.has(dep.name)) {
        throw new TypeError(
          `Component "${c.name}" depends on "${dep.name}", which is not in the graph`,
        );
      }
    }
  }
  return { namespace, components };
}
