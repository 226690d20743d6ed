/**
 * The gateway's own JavaScript cost, without sockets: `createGatewayApp` (with a `generate()` that
 * answers at once) and a bare Hono app doing the same, each called through `app.request()`,
 * alternately; prints CPU µs per request for each (`deno run -A scripts/bench/gateway_inproc.ts`).
 *
 * @module
 */

import { Hono } from "hono";
import { createGatewayApp } from "../../gateway/app.ts";

const gateway = createGatewayApp({
  async *generate(body) {
    const request = body as { prompt: string; request_id?: string };
    yield { worker_output: `${request.prompt}_x`, request_id: request.request_id };
  },
  health: () => ({}),
  ready: () => true,
});
const bare = new Hono();
bare.post("/generate", async (c) => {
  const body = await c.req.json();
  return c.json({ worker_output: `${body.prompt}_x`, request_id: body.request_id });
});

const BODY = JSON.stringify({ prompt: "test prompt", request_id: "id_number" });
const HEADERS = { "content-type": "application/json", "content-length": String(BODY.length) };

async function run(app: Hono, requests: number): Promise<void> {
  for (let i = 0; i < requests; i++) {
    const response = await app.request("/generate", {
      method: "POST",
      body: BODY,
      headers: HEADERS,
    });
    await response.text();
  }
}

for (const [name, app] of [["bare Hono", bare], ["gateway", gateway]] as const) {
  for (let round = 0; round < 2; round++) {
    await run(app, 20_000);
    const before = process.cpuUsage();
    await run(app, 100_000);
    const used = process.cpuUsage(before);
    console.log(`${name}: ${((used.user + used.system) / 100_000).toFixed(2)} µs CPU per request`);
  }
}
