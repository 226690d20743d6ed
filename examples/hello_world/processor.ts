/**
 * The Processor of seed 000: appends `_ProcessedBy_<hostname>` and routes to the Workers by the
 * configured policy. It waits until `min_workers` Workers are live before it forwards anything,
 * logging `Waiting for more workers to be ready. Current: X, Required: Y` as they arrive.
 *
 * @module
 */

import { component } from "../../actors/component.ts";
import { MeshError } from "../../protocol/errors.ts";
import { defineSchema, integer, string } from "../../actors/config_schema.ts";
import { Worker, type WorkerRequest } from "./worker.ts";
import { POLICY_ALIASES, POLICY_NAMES } from "../../router/policies/mod.ts";

/** The Processor's request, as the Frontend passes it on. */
export interface ProcessorRequest {
  prompt: string;
}

/** The Processor component. */
export const Processor = component({
  name: "Processor",
  config: defineSchema({
    router: string({
      default: "round_robin",
      enum: POLICY_NAMES,
      aliases: POLICY_ALIASES,
      doc: "How requests are spread over the Workers",
    }),
    min_workers: integer({ default: 1, min: 0, doc: "Workers that must be live before routing" }),
    wait_ms: integer({
      default: 5000,
      min: 0,
      doc: "How long a request waits for the Workers to be ready before a 503",
    }),
  }, { min_worker: "min_workers" }),
  depends: { worker: Worker },
  start(ctx) {
    const workers = ctx.client(Worker, { policy: ctx.config.router });
    let ready = false;
    workers.waitForInstances(ctx.config.min_workers, { signal: ctx.signal })
      .then(() => (ready = true), () => {});
    return {
      async *generate(request: ProcessorRequest, call) {
        if (typeof request?.prompt !== "string") {
          throw new MeshError("bad_request", 'Field "prompt" must be a string');
        }
        if (!ready) {
          // Fails `no_instances` ("Waiting for more workers to be ready. Current: X, Required:
          // Y") after `wait_ms`; the start hook's wait above logs the progress.
          await workers.waitForInstances(ctx.config.min_workers, {
            signal: call.signal,
            timeoutMs: ctx.config.wait_ms,
            quiet: true,
          });
          ready = true;
        }
        const forwarded: WorkerRequest = {
          prompt: `${request.prompt}_ProcessedBy_${call.hostname}`,
        };
        yield* workers.generate(forwarded, {
          requestId: call.requestId,
          deadline: call.deadline,
          signal: call.signal,
        });
      },
    };
  },
});
