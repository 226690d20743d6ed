/**
 * The bare chain's Worker: subscribes to the Workers' subject in their queue group, appends
 * `_GeneratedBy_<hostname>` to the prompt and answers. Prints `ready` once subscribed.
 *
 * @module
 */

import { connectNats, HOSTNAME, WORKER_SUBJECT } from "./common.ts";

const suffix = new TextEncoder().encode(`_GeneratedBy_${HOSTNAME}`);
const nc = await connectNats();
nc.subscribe(WORKER_SUBJECT, {
  queue: WORKER_SUBJECT,
  callback: (error, msg) => {
    if (error) return;
    const prompt = msg.data;
    const out = new Uint8Array(prompt.length + suffix.length);
    out.set(prompt);
    out.set(suffix, prompt.length);
    msg.respond(out);
  },
});
await nc.flush();
console.error("bare worker ready");
Deno.addSignalListener("SIGTERM", () => nc.drain().finally(() => Deno.exit(0)));
