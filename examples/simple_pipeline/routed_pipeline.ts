/**
 * Seed 001's routed pipeline: the Frontend builds an explicit client to the Backend in its start
 * hook (the seeds' `@async_on_start`) and picks round robin or random per its `routing_mode`.
 *
 * ```sh
 * deno task serve --graph examples/simple_pipeline/routed_pipeline.ts \
 *   --config examples/simple_pipeline/config.yaml
 * curl -X POST http://localhost:8000/generate -H 'Content-Type: application/json' \
 *   -d '{"text": "sun,moon,stars"}'
 * ```
 *
 * @module
 */

import { component, graph } from "../../actors/component.ts";
import { defineSchema, string } from "../../actors/config_schema.ts";
import { Backend } from "./backend.ts";
import { type PipelineRequest, requestText } from "./simple_pipeline.ts";

export { Backend };

/** The Frontend: the gateway fronts its `generate`. */
export const Frontend = component({
  name: "Frontend",
  http: true,
  config: defineSchema({
    routing_mode: string({
      default: "round_robin",
      enum: ["round_robin", "random"],
      aliases: { "round-robin": "round_robin" },
      doc: "How requests are spread over the Backend instances",
    }),
  }),
  // The edge of the graph (start order, and the check that Backend is in it); the calls go
  // through the explicit client below.
  depends: { backend: Backend },
  async start(ctx) {
    const client = await ctx.runtime.namespace(ctx.namespace).component(Backend.name)
      .endpoint("generate").client();
    return {
      async *generate(request: PipelineRequest, c) {
        const text = requestText(request);
        yield* ctx.config.routing_mode === "random"
          ? client.random(text, c)
          : client.roundRobin(text, c);
      },
    };
  },
});

export default graph("simple_pipeline", [Frontend, Backend]);
