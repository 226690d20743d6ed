/**
 * The README's table of environment variables is the one in the code (`configs/environment.ts`),
 * and the code reads no `MESH_*`, `NATS_*` or `ETCD_*` variable that the table lacks.
 */

import assert from "node:assert/strict";
import { ENVIRONMENT, environmentTable } from "../../configs/environment.ts";

const ROOT = new URL("../../", import.meta.url);

Deno.test("README.md shows the environment table of configs/environment.ts, row for row", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  assert.ok(
    readme.includes(environmentTable()),
    "README.md's table differs from environmentTable(): paste its output into the README",
  );
});

Deno.test("every MESH_, NATS_ and ETCD_ variable named in the library is in the table", async () => {
  const named = new Set<string>();
  for (
    const folder of [
      "actors",
      "bin",
      "configs",
      "gateway",
      "planes",
      "protocol",
      "router",
      "runtime",
      "utils",
    ]
  ) {
    for await (const file of _walk(new URL(`${folder}/`, ROOT))) {
      const text = await Deno.readTextFile(file);
      for (const match of text.matchAll(/\b((?:MESH|NATS|ETCD)_[A-Z_]+)\b/g)) named.add(match[1]!);
    }
  }
  const known = new Set(Object.keys(ENVIRONMENT));
  const ignored = new Set(["MESH_PERMISSIONS", "NATS_ENV", "ETCD_ENV", "NATS_KEYS", "ETCD_KEYS"]);
  const missing = [...named].filter((name) => !known.has(name) && !ignored.has(name)).sort();
  assert.deepEqual(missing, []);
});

async function* _walk(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* _walk(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}
