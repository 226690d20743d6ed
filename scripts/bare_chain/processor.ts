/**
 * The bare chain's Processor (split layout): subscribes to the Processor's subject in its queue
 * group, appends `_ProcessedBy_<hostname>`, asks a Worker (queue group) and passes the Worker's
 * answer bytes back as they are. Prints `ready` once subscribed.
 *
 * @module
 */

import {
  connectNats,
  HOSTNAME,
  PROCESSOR_SUBJECT,
  REQUEST_TIMEOUT_MS,
  WORKER_SUBJECT,
} from "./common.ts";

const suffix = new TextEncoder().encode(`_ProcessedBy_${HOSTNAME}`);
const nc = await connectNats();
nc.subscribe(PROCESSOR_SUBJECT, {
  queue: PROCESSOR_SUBJECT,
  callback: (error, msg) => {
    if (error) return;
    const prompt = msg.data;
    const out = new Uint8Array(prompt.length + suffix.length);
    out.set(prompt);
    out.set(suffix, prompt.length);
    nc.request(WORKER_SUBJECT, out, { timeout: REQUEST_TIMEOUT_MS }).then(
      (reply) => msg.respond(reply.data),
      () => msg.respond(), // an empty answer: the gateway turns it into a 503
    );
  },
});
await nc.flush();
console.error("bare processor ready");
Deno.addSignalListener("SIGTERM", () => nc.drain().finally(() => Deno.exit(0)));
