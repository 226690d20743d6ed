/**
 * The Worker of seed 000: appends `_GeneratedBy_<hostname>` to the prompt it is given.
 *
 * `delay_ms` makes it wait before answering (the wait ends early when the request is cancelled),
 * for demos of load spreading and cancellation.
 *
 * @module
 */

import { component } from "../../actors/component.ts";
import { MeshError } from "../../protocol/errors.ts";
import { defineSchema, integer } from "../../actors/config_schema.ts";
import { abortableDelay } from "../../utils/abortable_delay.ts";

/** The Worker's request: the prompt as the Processor passes it on. */
export interface WorkerRequest {
  prompt: string;
}

/** The Worker component. */
export const Worker = component({
  name: "Worker",
  config: defineSchema({
    delay_ms: integer({ default: 0, min: 0, doc: "Simulated work before answering, in ms" }),
  }),
  endpoints: {
    async *generate(request: WorkerRequest, ctx) {
      if (typeof request?.prompt !== "string") {
        throw new MeshError("bad_request", 'Field "prompt" must be a string');
      }
      if (ctx.config.delay_ms > 0) await abortableDelay(ctx.config.delay_ms, ctx.signal);
      yield `${request.prompt}_GeneratedBy_${ctx.hostname}`;
    },
  },
});
