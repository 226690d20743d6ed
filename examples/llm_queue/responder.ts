/**
 * Seed 004's response workers: each greedily takes responses from the shared `responses` queue
 * and hands each to whoever put its prompt (the prompt's answer address travels with it). They
 * finish (`ctx.done()`) once the prompt queue has ended and both queues are empty.
 *
 * @module
 */

import { component } from "../../actors/component.ts";
import { PROMPTS, type Response, RESPONSES } from "./messages.ts";

/** The response worker component. */
export const responder = component({
  name: "responder",
  start(ctx) {
    const responses = ctx.queue<Response>(RESPONSES);
    let handed = 0;
    (async () => {
      for await (
        const item of responses.take({ signal: ctx.signal, upstream: [PROMPTS] })
      ) {
        item.reply(item.value);
        item.done();
        handed++;
      }
    })().then(
      () => {
        if (ctx.signal.aborted) return;
        ctx.log.info("Every response is handed back and the prompt queue has ended; finishing", {
          handed,
        });
        ctx.done();
      },
      (error) => ctx.fail(error),
    );
    return { generate: () => ({ responder: ctx.instanceId, host: ctx.hostname, handed }) };
  },
});
