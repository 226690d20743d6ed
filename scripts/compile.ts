/**
 * `deno task compile`: builds the single-file binaries with `deno compile` and exactly the
 * least-privilege flags of {@linkcode MESH_PERMISSIONS} (a compiled binary never prompts, so it
 * can never do more than these allow):
 *
 * - `dist/meshwork-worker` (entry `bin/worker.ts`): one Worker, `meshwork worker` in a file;
 * - `dist/meshwork` (entry `cli.ts`): `serve`, `worker`, `status`, any component.
 *
 * ```sh
 * deno task compile                                   # dist/meshwork-worker, dist/meshwork
 * deno task compile --out-dir build --target aarch64-unknown-linux-gnu
 * DENORT_BIN=/opt/denort deno task compile            # a runtime you provide
 * ```
 *
 * `deno compile` copies the program into `denort`, Deno's runtime-only binary. Deno takes it from
 * `DENORT_BIN` when that is set (the raw binary, read as is), else from its cache
 * (`$DENO_DIR/dl/release/v<version>/denort-<target>.zip`), else it downloads it from
 * `dl.deno.land`. When none of these works the task prints one line saying so, and how to provide
 * the runtime, and exits 1. Every built binary is started once (`--help`) when it is for this
 * machine, so a `DENORT_BIN` that is not a matching runtime is caught here, not in production.
 *
 * The built-in graphs are imported statically (`bin/load_graph.ts`), so nothing needs `--include`;
 * one npm test-data directory needs `--exclude` (see {@linkcode NPM_EXCLUDES}).
 *
 * @module
 */

import { MESH_PERMISSIONS, SERVE_PERMISSIONS } from "../bin/permissions.ts";
import { parseArgs, UsageError } from "../bin/args.ts";

/** The repository root (where `deno.json` is). */
const ROOT = new URL("../", import.meta.url).pathname;

/** A binary the task builds. */
export interface BinarySpec {
  /** File name in the output directory. */
  name: string;
  /** Entry module, relative to the repository root. */
  entry: string;
  /** Its Deno permissions. */
  permissions: readonly string[];
}

/** What `deno task compile` builds, in order. */
export const BINARIES: readonly BinarySpec[] = [
  { name: "meshwork-worker", entry: "bin/worker.ts", permissions: MESH_PERMISSIONS },
  { name: "meshwork", entry: "cli.ts", permissions: SERVE_PERMISSIONS },
];

/** Options for {@linkcode compileCommand}. */
export interface CompileCommandOptions {
  /** A `deno compile --target` triple; default this machine's. */
  target?: string;
  /** Paths to leave out of the binary (`--exclude`); see {@linkcode npmExcludes}. */
  exclude?: readonly string[];
  /** Deno permissions. Default {@linkcode MESH_PERMISSIONS}. */
  permissions?: readonly string[];
}

/**
 * The arguments of `deno` that build `entry` into `output`: `compile`, exactly
 * {@linkcode MESH_PERMISSIONS}, then `--target` and `--exclude` (when given), `--output` and the
 * entry.
 */
export function compileCommand(
  entry: string,
  output: string,
  options: CompileCommandOptions = {},
): string[] {
  return [
    "compile",
    ...(options.permissions ?? MESH_PERMISSIONS),
    ...(options.target ? ["--target", options.target] : []),
    ...(options.exclude ?? []).flatMap((path) => ["--exclude", path]),
    "--output",
    output,
    entry,
  ];
}

/**
 * Directories of npm packages that must stay out of a binary. `deno compile` runs its CommonJS
 * export analysis on every file of every npm package, and `bintrees` (prom-client → tdigest →
 * bintrees) ships `test/perf/100k`: 100 000 lines like `123` / `-123`, which parse as one
 * 100 000-term subtraction and overflow the parser's stack (Deno 2.9.6 aborts with
 * "thread 'tokio-runtime-worker' has overflowed its stack"). Test data is never loaded at run time.
 */
export const NPM_EXCLUDES: readonly { name: string; dir: string }[] = [
  { name: "bintrees", dir: "test" },
];

function readDirNames(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].filter((e) => e.isDirectory).map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * The absolute paths of {@linkcode NPM_EXCLUDES} in every cached version of those packages: in
 * Deno's npm cache (`<denoDir>/npm/<registry>/<name>/<version>/<dir>`) and, when the project has
 * a `node_modules`, in `node_modules/.deno/<name>@<version>/node_modules/<name>/<dir>`.
 */
export function npmExcludes(denoDir: string, root: string = ROOT): string[] {
  const paths: string[] = [];
  for (const { name, dir } of NPM_EXCLUDES) {
    for (const registry of readDirNames(`${denoDir}/npm`)) {
      for (const version of readDirNames(`${denoDir}/npm/${registry}/${name}`)) {
        paths.push(`${denoDir}/npm/${registry}/${name}/${version}/${dir}`);
      }
    }
    for (const entry of readDirNames(`${root}node_modules/.deno`)) {
      if (entry.startsWith(`${name}@`)) {
        paths.push(`${root}node_modules/.deno/${entry}/node_modules/${name}/${dir}`);
      }
    }
  }
  return paths.filter(exists);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Where `deno compile` will take its `denort` runtime from. */
export type DenortSource =
  | { kind: "env"; path: string }
  | { kind: "cache"; path: string }
  | { kind: "download"; url: string; cachePath: string }
  | { kind: "missing"; reason: string };

/** Options for {@linkcode findDenort}. */
export interface FindDenortOptions {
  /** The compile target; default this machine's (`Deno.build.target`). */
  target?: string;
  /** Environment; default the process's. */
  env?: Record<string, string>;
  /** Deno's cache directory; default `DENO_DIR` or the one `deno info --json` reports. */
  denoDir?: string;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Deno's cache directory, as `deno info --json` reports it (it honours `DENO_DIR`). */
export async function denoCacheDir(): Promise<string> {
  const { success, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  const dir = success ? JSON.parse(new TextDecoder().decode(stdout)).denoDir : undefined;
  if (typeof dir !== "string") throw new Error("`deno info --json` did not report a denoDir");
  return dir;
}

/** The file name of Deno's download of `denort` for `target` (same version as this Deno). */
export function denortArchive(target: string = Deno.build.target): string {
  return `release/v${Deno.version.deno}/denort-${target}.zip`;
}

/**
 * Finds the `denort` that `deno compile` will use, the way Deno does: `DENORT_BIN` (a raw binary;
 * when set, Deno uses nothing else), then the cached archive of this Deno version, then a
 * download from `dl.deno.land` (`kind: "download"`: whether that works is known only by trying).
 */
export async function findDenort(options: FindDenortOptions = {}): Promise<DenortSource> {
  const env = options.env ?? Deno.env.toObject();
  const target = options.target ?? Deno.build.target;
  const fromEnv = env.DENORT_BIN;
  if (fromEnv) {
    return isFile(fromEnv)
      ? { kind: "env", path: fromEnv }
      : { kind: "missing", reason: `DENORT_BIN is set to "${fromEnv}", which is not a file` };
  }
  const archive = denortArchive(target);
  const cachePath = `${options.denoDir ?? env.DENO_DIR ?? await denoCacheDir()}/dl/${archive}`;
  if (isFile(cachePath)) return { kind: "cache", path: cachePath };
  return { kind: "download", url: `https://dl.deno.land/${archive}`, cachePath };
}

/** How to provide the runtime, for error messages. */
export function denortHint(target: string = Deno.build.target): string {
  return `set DENORT_BIN to a denort binary of Deno ${Deno.version.deno} for ${target} ` +
    `(unzip https://dl.deno.land/${denortArchive(target)}) and run again`;
}

/** A failure that the task reports as one line, without a stack. */
class CompileError extends Error {
  override name = "CompileError";
}

function formatSize(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(1)} MB`
    : `${(bytes / 1024).toFixed(1)} KB`;
}

const encoder = new TextEncoder();
const write = (text: string) => Deno.stdout.writeSync(encoder.encode(text));

/** The innermost cause `deno compile` printed (its numbered "Caused by" lines), if any. */
function innermostCause(stderr: string): string | undefined {
  const causes = [...stderr.matchAll(/^\s*\d+: (.+)$/gm)].map((m) => m[1]!.trim());
  return causes.filter((c) => c !== "<unknown>").at(-1);
}

/** Runs `deno compile` for one binary; throws a {@linkcode CompileError} on failure. */
async function build(
  spec: BinarySpec,
  output: string,
  target: string | undefined,
  exclude: readonly string[],
  denort: DenortSource,
): Promise<void> {
  const shownOutput = output.startsWith(ROOT) ? output.slice(ROOT.length) : output;
  write(`compile: building ${shownOutput} from ${spec.entry} ... `);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: compileCommand(spec.entry, output, { target, exclude, permissions: spec.permissions }),
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    write("failed\n");
    const text = new TextDecoder().decode(stderr);
    if (/Setting up base binary|Could not find denort|Download could not be found/.test(text)) {
      const tried = denort.kind === "env"
        ? `DENORT_BIN ("${denort.path}") could not be used`
        : denort.kind === "cache"
        ? `Deno's cached ${denort.path} could not be used`
        : denort.kind === "download"
        ? `DENORT_BIN is not set, it is not in Deno's cache (${denort.cachePath}) and ` +
          `downloading ${denort.url} failed`
        : denort.reason;
      const cause = innermostCause(text);
      throw new CompileError(
        `no denort runtime for Deno ${Deno.version.deno} (${target ?? Deno.build.target}): ` +
          `${tried}${cause ? ` (${cause})` : ""}; ${denortHint(target)}`,
      );
    }
    throw new CompileError(`deno compile ${spec.entry} failed:\n${text.trimEnd()}`);
  }
  if (!target || target === Deno.build.target) await smokeTest(output, shownOutput, denort);
  write(`done, ${formatSize(Deno.statSync(output).size)}\n`);
}

/** Starts the binary with `--help`: a wrong runtime (e.g. `DENORT_BIN=deno`) shows here. */
async function smokeTest(output: string, shown: string, denort: DenortSource) {
  const { code, stdout } = await new Deno.Command(output, {
    args: ["--help"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (code === 0 && /^meshwork /.test(text)) return;
  await Deno.remove(output).catch(() => {});
  write("failed\n");
  throw new CompileError(
    `${shown} does not run as meshwork (exit ${code}, it printed ` +
      `${JSON.stringify(text.split("\n")[0] ?? "")}): ${
        denort.kind === "env" ? `DENORT_BIN ("${denort.path}")` : "the runtime"
      } is not a denort of Deno ${Deno.version.deno}; ${denortHint()}`,
  );
}

const USAGE = `Usage: deno task compile [--out-dir DIR] [--target TRIPLE]

Builds ${BINARIES.map((b) => `DIR/${b.name} (${b.entry})`).join(" and ")} with
deno compile ${MESH_PERMISSIONS.join(" ")}.

  --out-dir DIR     where the binaries go; default dist
  --target TRIPLE   a deno compile target, e.g. aarch64-unknown-linux-gnu; default this machine's

The runtime (denort) comes from DENORT_BIN, Deno's cache, or a download from dl.deno.land.`;

/** The task: parses `args`, builds every binary, prints one line per binary. Returns the code. */
export async function main(args: string[]): Promise<number> {
  try {
    const { options, overrides } = parseArgs(args, {
      valued: ["out-dir", "target"],
      flags: ["help"],
      aliases: { h: "help", o: "out-dir" },
    });
    if (options.help) {
      console.log(USAGE);
      return 0;
    }
    if (overrides.length) throw new UsageError(`Unexpected argument ${overrides[0]}`);
    const target = options.target as string | undefined;
    const outDir = (options["out-dir"] as string | undefined) ?? `${ROOT}dist`;
    // `deno task` runs in the directory of deno.json; INIT_CWD is where it was started.
    const cwd = Deno.env.get("INIT_CWD") ?? Deno.cwd();
    const absOut = outDir.startsWith("/") ? outDir : `${cwd}/${outDir}`;

    const denoDir = await denoCacheDir();
    const denort = await findDenort({ target, denoDir });
    if (denort.kind === "missing") {
      throw new CompileError(
        `no denort runtime for Deno ${Deno.version.deno}: ${denort.reason}; ${denortHint(target)}`,
      );
    }
    console.log(
      `compile: runtime ${
        denort.kind === "env"
          ? `DENORT_BIN=${denort.path}`
          : denort.kind === "cache"
          ? `from Deno's cache (${denort.path})`
          : `not cached; deno compile downloads ${denort.url}`
      }; flags ${MESH_PERMISSIONS.join(" ")}`,
    );
    // Fetch the dependencies first, so that npmExcludes() sees every package the build embeds.
    const fetched = await new Deno.Command(Deno.execPath(), {
      args: ["install", "--entrypoint", ...BINARIES.map((b) => b.entry)],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!fetched.success) {
      throw new CompileError(
        `cannot fetch the dependencies:\n${new TextDecoder().decode(fetched.stderr).trimEnd()}`,
      );
    }
    const exclude = npmExcludes(denoDir);
    await Deno.mkdir(absOut, { recursive: true });
    for (const spec of BINARIES) {
      const suffix = (target ?? Deno.build.target).includes("windows") ? ".exe" : "";
      await build(spec, `${absOut}/${spec.name}${suffix}`, target, exclude, denort);
    }
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${USAGE}\n\nerror: ${error.message}`);
      return 2;
    }
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
