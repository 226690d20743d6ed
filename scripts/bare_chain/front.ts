/**
 * The bare chain's HTTP front, in two layouts (`front.ts PORT [node1|split]`):
 *
 * - `node1` (default): Hono `POST /generate` does the Processor's work itself (appends
 *   `_ProcessedBy_<hostname>`) and asks a Worker over NATS (queue group);
 * - `split`: the gateway only: it asks the Processor process over NATS, which asks a Worker.
 *
 * Either way it answers `{"worker_output": ..., "request_id": ...}` as JSON, and 400 on a bad
 * body, 503 when the NATS hop fails.
 *
 * @module
 */

import { Hono } from "hono";
import {
  checkBody,
  connectNats,
  HOSTNAME,
  portArg,
  PROCESSOR_SUBJECT,
  REQUEST_TIMEOUT_MS,
  WORKER_SUBJECT,
} from "./common.ts";

const port = portArg();
const split = Deno.args[1] === "split";
const nc = await connectNats();
const encoder = new TextEncoder();
const subject = split ? PROCESSOR_SUBJECT : WORKER_SUBJECT;
const processed = split ? "" : `_ProcessedBy_${HOSTNAME}`;

const app = new Hono();
app.post("/generate", async (c) => {
  let body;
  try {
    body = checkBody(await c.req.json());
  } catch {
    body = undefined;
  }
  if (!body) return c.json({ error: "bad_request" }, 400);
  try {
    const reply = await nc.request(subject, encoder.encode(body.prompt + processed), {
      timeout: REQUEST_TIMEOUT_MS,
    });
    if (reply.data.length === 0) return c.json({ error: "unavailable" }, 503);
    return c.json({ worker_output: reply.string(), request_id: body.request_id });
  } catch {
    return c.json({ error: "unavailable" }, 503);
  }
});

const server = Deno.serve({
  port,
  hostname: "127.0.0.1",
  onListen: () => console.error(`bare front (${split ? "split" : "node1"}) ready`),
}, app.fetch);
Deno.addSignalListener("SIGTERM", async () => {
  await server.shutdown();
  await nc.drain();
  Deno.exit(0);
});
