/**
 * Seed 001's basic pipeline: an HTTP Frontend that depends on the Backend and streams its answer
 * straight through. The mesh routes each call to a Backend instance (round robin by default).
 *
 * ```sh
 * deno task serve --graph examples/simple_pipeline/simple_pipeline.ts
 * curl -X POST http://localhost:8000/generate -H 'Content-Type: application/json' \
 *   -d '{"text": "world,universe,galaxy"}'
 * ```
 *
 * @module
 */

import { component, graph } from "../../actors/component.ts";
import { MeshError } from "../../protocol/errors.ts";
import { Backend } from "./backend.ts";

export { Backend };

/** The body of `POST /generate`. */
export interface PipelineRequest {
  text: string;
}

/** Checks the body of `POST /generate` and returns its text. */
export function requestText(request: PipelineRequest | undefined): string {
  const text = request?.text;
  if (typeof text !== "string" || text === "") {
    throw new MeshError("bad_request", 'Field "text" is required and must be a non-empty string');
  }
  return text;
}

/** The Frontend: the gateway fronts its `generate`. */
export const Frontend = component({
  name: "Frontend",
  http: true,
  depends: { backend: Backend },
  endpoints: {
    async *generate(request: PipelineRequest, ctx) {
      // ctx.deps calls inherit this request's id, deadline and cancellation.
      yield* ctx.deps.backend.generate(requestText(request));
    },
  },
});

export default graph("simple_pipeline", [Frontend, Backend]);
