/**
 * Seed 002's `decoder`: removes the copies the encoder made (keeps the first one along the leading
 * axis, whatever `input_copies` the encoder used), inverts every byte back, then waits `delay`
 * seconds per output element before it answers `{"tensor": ...}`.
 *
 * @module
 */

import { component } from "../../actors/component.ts";
import { defineSchema, number } from "../../actors/config_schema.ts";
import { decodeCopies, elementCount } from "./codec.ts";
import { packTensor, unpackTensor } from "./tensor_json.ts";
import { workDelay } from "./work_delay.ts";

/** The decoder's config section. */
export const DECODER_CONFIG = defineSchema({
  delay: number({
    default: 0,
    min: 0,
    max: 60,
    doc: "Seconds of simulated work per output element (delay × size), cancellable",
  }),
});

/** The decoder component. */
export const decoder = component({
  name: "decoder",
  config: DECODER_CONFIG,
  endpoints: {
    async generate(request: unknown, ctx) {
      const output = decodeCopies(await unpackTensor(request, ctx));
      await workDelay(ctx.config.delay, elementCount(output), ctx.signal);
      return await packTensor(output, ctx);
    },
  },
});
