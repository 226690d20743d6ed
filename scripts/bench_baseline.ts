/**
 * The benchmark's baseline: a bare `Deno.serve` that parses the same request body and answers the
 * same bytes as the hello-world mesh, with no mesh at all. Usage: `bench_baseline.ts PORT`.
 *
 * @module
 */

const port = Number(Deno.args[0] ?? 8100);
const hostname = Deno.hostname();
Deno.serve(
  { port, hostname: "127.0.0.1", onListen: () => console.error("baseline ready") },
  async (request) => {
    const body = await request.json();
    const output = `${body.prompt}_ProcessedBy_${hostname}_GeneratedBy_${hostname}`;
    return new Response(
      JSON.stringify({ worker_output: output, request_id: body.request_id }) + "\n",
      {
        headers: { "content-type": "application/x-ndjson" },
      },
    );
  },
);
