import assert from "node:assert/strict";
import { parseConfigText } from "../../configs/yaml_document.ts";
import { resolveConfig } from "../../configs/resolve.ts";
import type { ConfigSchema } from "../../actors/config_schema.ts";
import helloWorld from "../../examples/hello_world/graph.ts";
import { graphSchemas } from "../../bin/serve.ts";

const schemas: Record<string, ConfigSchema> = graphSchemas(helloWorld);

Deno.test("the hello-world graph accepts the seeds' spellings min_worker and round-robin", () => {
  const doc = parseConfigText(
    "Processor:\n  router: round-robin\n  min_worker: 2\nWorker:\n  ServiceArgs:\n    workers: 2\n",
    "seed.yaml",
  );
  const config = resolveConfig(doc, schemas);
  assert.equal(config.components.Processor!.values.router, "round_robin");
  assert.equal(config.components.Processor!.values.min_workers, 2);
  assert.equal(config.components.Worker!.workers, 2);
});

for (const file of ["configs/one_worker.yaml", "configs/multi_worker.yaml"]) {
  Deno.test(`${file} resolves against the hello-world graph`, async () => {
    const doc = parseConfigText(await Deno.readTextFile(file), file);
    const config = resolveConfig(doc, schemas);
    const expected = file.includes("multi")
      ? { router: "round_robin", min: 2, workers: 2 }
      : { router: "random", min: 1, workers: 1 };
    assert.equal(config.components.Processor!.values.router, expected.router);
    assert.equal(config.components.Processor!.values.min_workers, expected.min);
    assert.equal(config.components.Worker!.workers, expected.workers);
    assert.equal(config.components.Frontend!.values.port, 8000);
  });
}
