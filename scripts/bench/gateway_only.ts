/**
 * The gateway alone: `createGatewayApp` with a `generate()` that answers one object at once,
 * served on `--port`; for measuring the HTTP edge's cost per request with wrk (`deno run -A
 * scripts/bench/gateway_only.ts --port 8123`). `--bare` serves a bare Hono app instead.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Hono } from "hono";
import { createGatewayApp } from "../../gateway/app.ts";
import { serveGateway } from "../../gateway/server.ts";

const { values } = parseArgs({
  options: { port: { type: "string", default: "8123" }, bare: { type: "boolean" } },
});
let app: Hono;
if (values.bare) {
  app = new Hono();
  app.post("/generate", async (c) => {
    const body = await c.req.json();
    return c.json({ worker_output: `${body.prompt}_x`, request_id: body.request_id });
  });
} else {
  app = createGatewayApp({
    async *generate(body) {
      const request = body as { prompt: string; request_id?: string };
      yield { worker_output: `${request.prompt}_x`, request_id: request.request_id };
    },
    health: () => ({}),
    ready: () => true,
  });
}
serveGateway(app, { port: Number(values.port), hostname: "127.0.0.1" });
