/**
 * The embedded scenario's baseline: one process, Deno.serve + Hono, the whole hello-world
 * transform (`_ProcessedBy_` then `_GeneratedBy_`) in the handler. Usage: `embedded.ts PORT`.
 *
 * @module
 */

import { Hono } from "hono";
import { checkBody, HOSTNAME, portArg } from "./common.ts";

const app = new Hono();
app.post("/generate", async (c) => {
  let body;
  try {
    body = checkBody(await c.req.json());
  } catch {
    body = undefined;
  }
  if (!body) return c.json({ error: "bad_request" }, 400);
  const output = `${body.prompt}_ProcessedBy_${HOSTNAME}_GeneratedBy_${HOSTNAME}`;
  return c.json({ worker_output: output, request_id: body.request_id });
});

Deno.serve({
  port: portArg(),
  hostname: "127.0.0.1",
  onListen: () => console.error("bare embedded ready"),
}, app.fetch);
