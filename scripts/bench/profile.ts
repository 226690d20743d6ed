/**
 * `--profile`: the V8 tick logs (`--prof`) of the mesh's front and one worker, summed up by
 * `node --prof-process` (node must be on PATH).
 *
 * @module
 */

import { findBinary } from "../../tests/helpers/binaries.ts";

const TOP_LINES = 25;

/** Prints the top of `node --prof-process` for each `*.log` in `dir`, and its summary. */
export async function printProfiles(dir: string): Promise<void> {
  const node = findBinary("node");
  if (!node) {
    console.error(`bench: --profile needs node on PATH; the V8 logs are in ${dir}`);
    return;
  }
  const logs = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".log")).map((e) => e.name)
    .sort();
  if (logs.length === 0) console.error(`bench: no V8 log was written in ${dir}`);
  for (const log of logs) {
    const out = await new Deno.Command(node, {
      args: ["--prof-process", `${dir}/${log}`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const lines = new TextDecoder().decode(out.stdout).split("\n");
    console.log(`\n### V8 profile of the mesh's ${log.replace(/\.log$/, "")} (${dir}/${log})\n`);
    console.log("```");
    console.log(lines.slice(0, TOP_LINES).join("\n"));
    const summary = lines.findIndex((l) => l.includes("[Summary]"));
    if (summary >= TOP_LINES) console.log(`...\n${lines.slice(summary, summary + 8).join("\n")}`);
    if (!out.success) console.log(new TextDecoder().decode(out.stderr).slice(0, 2000));
    console.log("```");
  }
}
