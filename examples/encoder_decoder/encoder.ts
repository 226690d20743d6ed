/**
 * Seed 002's `encoder`: copies its input tensor `input_copies` times (a new leading axis),
 * inverts every byte (see codec.ts), then waits `delay` seconds per output element before it
 * answers `{"tensor": ...}`.
 *
 * @module
 */

import { component } from "../../actors/component.ts";
import { defineSchema, integer, number } from "../../actors/config_schema.ts";
import { elementCount, encodeCopies } from "./codec.ts";
import { packTensor, unpackTensor } from "./tensor_json.ts";
import { workDelay } from "./work_delay.ts";

/** The encoder's config section. */
export const ENCODER_CONFIG = defineSchema({
  input_copies: integer({
    default: 1,
    min: 1,
    max: 1024,
    doc: "Copies of the input in the output (a new leading axis)",
  }),
  delay: number({
    default: 0,
    min: 0,
    max: 60,
    doc: "Seconds of simulated work per output element (delay × size), cancellable",
  }),
});

/** The encoder component. */
export const encoder = component({
  name: "encoder",
  config: ENCODER_CONFIG,
  endpoints: {
    async generate(request: unknown, ctx) {
      const output = encodeCopies(await unpackTensor(request, ctx), ctx.config.input_copies);
      await workDelay(ctx.config.delay, elementCount(output), ctx.signal);
      return await packTensor(output, ctx);
    },
  },
});
