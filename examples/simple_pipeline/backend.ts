/**
 * The Backend of seed 001: it greets every comma-separated word of the text it is given, one line
 * per word, streaming each line as soon as it is ready.
 *
 * `sleep_time` is the seed's "processing delay per word": the Backend waits that long before each
 * word, the first included, so every line arrives `sleep_time` after the previous one (the first
 * `sleep_time` after the request). The wait is an `abortableDelay` on `ctx.signal`: it never
 * blocks the event loop (other requests are served meanwhile) and ends at once when the request
 * is cancelled, so a client that goes away stops the Backend too.
 *
 * @module
 */

import { abortableDelay } from "../../utils/abortable_delay.ts";
import { component } from "../../actors/component.ts";
import { MeshError } from "../../protocol/errors.ts";
import { defineSchema, number, string } from "../../actors/config_schema.ts";

/** What the Backend accepts: the text itself (as the seed's Frontend sends it), or `{ text }`. */
export type BackendRequest = string | { text: string };

/** The Backend component. */
export const Backend = component({
  name: "Backend",
  config: defineSchema({
    greeting: string({ default: "Hello", doc: "The word each line starts with" }),
    sleep_time: number({ default: 1, min: 0, doc: "Seconds of work per word, before each line" }),
  }),
  endpoints: {
    async *generate(request: BackendRequest, ctx) {
      const text = typeof request === "string" ? request : request?.text;
      if (typeof text !== "string") {
        throw new MeshError("bad_request", 'The Backend takes a string, or {"text": string}');
      }
      const words = text.split(",").map((word) => word.trim());
      // One line per request, naming this instance: the log shows the instances taking turns.
      ctx.log.info("Backend serving a request", { words: words.length });
      const { greeting, sleep_time } = ctx.config;
      for (const word of words) {
        if (sleep_time > 0) await abortableDelay(sleep_time * 1000, ctx.signal);
        yield `${greeting} ${word}!`;
      }
    },
  },
});
