/**
 * What the bare chain's processes share: the NATS subjects and queue groups, the connection, and
 * the JSON answer of `POST /generate`. The bare chain is the hand-written yardstick of
 * `deno task bench` (DESIGN §8b): Hono and raw `@nats-io/transport-node` request/reply, no
 * framework.
 *
 * @module
 */

import { connect, type NatsConnection } from "@nats-io/transport-node";

/** The Workers' subject and queue group. */
export const WORKER_SUBJECT = "bare.worker.generate";
/** The Processor's subject and queue group (split layout). */
export const PROCESSOR_SUBJECT = "bare.processor.generate";
/** How long a hop waits for its answer. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** The machine's hostname, as the mesh's components append it. */
export const HOSTNAME = Deno.hostname();

/** Connects to `NATS_SERVER` (default `nats://127.0.0.1:4222`). */
export function connectNats(): Promise<NatsConnection> {
  return connect({ servers: Deno.env.get("NATS_SERVER") ?? "nats://127.0.0.1:4222" });
}

/** The body of `POST /generate`, checked as the hello-world Frontend checks it. */
export interface GenerateBody {
  prompt: string;
  request_id?: string;
}

/** The checked body, or `undefined` when it is not a valid request. */
export function checkBody(body: unknown): GenerateBody | undefined {
  const b = body as GenerateBody | null;
  if (typeof b?.prompt !== "string") return undefined;
  if (b.request_id !== undefined && typeof b.request_id !== "string") return undefined;
  return b;
}

/** The port from the first argument, default 8100. */
export function portArg(): number {
  return Number(Deno.args[0] ?? 8100);
}
