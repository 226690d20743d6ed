/**
 * The Frontend of seed 000: the HTTP entry point. The gateway fronts its `generate` endpoint
 * (`POST /generate`); it checks the request and streams the Processor's answer back as
 * `{"worker_output": ..., "request_id": ...}`.
 *
 * @module
 */

import { component } from "../../actors/component.ts";
import { MeshError } from "../../protocol/errors.ts";
import { Processor, type ProcessorRequest } from "./processor.ts";

/** The body of `POST /generate`. */
export interface GenerateRequest {
  prompt: string;
  request_id?: string;
}

/** The Frontend component. */
export const Frontend = component({
  name: "Frontend",
  http: true,
  depends: { processor: Processor },
  endpoints: {
    async *generate(request: GenerateRequest, ctx) {
      if (typeof request?.prompt !== "string") {
        throw new MeshError("bad_request", 'Field "prompt" is required and must be a string');
      }
      if (request.request_id !== undefined && typeof request.request_id !== "string") {
        throw new MeshError("bad_request", 'Field "request_id" must be a string');
      }
      const requestId = request.request_id ?? ctx.requestId;
      const forwarded: ProcessorRequest = { prompt: request.prompt };
      for await (const output of ctx.deps.processor.generate(forwarded)) {
        yield { worker_output: output, request_id: requestId };
      }
    },
  },
});
