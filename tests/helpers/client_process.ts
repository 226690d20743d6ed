/**
 * Runs the load client (`bin/client.ts`) as a user would, as its own process: by default with
 * the `--allow-net` it needs for `--url`; give the flags of the `client` task to test those.
 *
 * @module
 */

const ROOT = new URL("../../", import.meta.url).pathname;

/** Options of {@linkcode clientCommand}. */
export interface ClientOptions {
  /** `deno run` permission flags. Default `["--allow-net"]`. */
  flags?: readonly string[];
  /** Give up (the process is killed) after this long. Default 120 000 ms. */
  timeoutMs?: number;
}

/** The client's command, to `.output()` or `.spawn()`; stdout and stderr are piped. */
export function clientCommand(args: readonly string[], options: ClientOptions = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.flags ?? ["--allow-net"]), `${ROOT}bin/client.ts`, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
  });
}

/** What a finished client run printed, decoded. */
export interface ClientRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Decodes a finished run of {@linkcode clientCommand}. */
export function decodeRun(output: Deno.CommandOutput): ClientRun {
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}

/** Runs the client to its end. */
export async function runClient(
  args: readonly string[],
  options: ClientOptions = {},
): Promise<ClientRun> {
  return decodeRun(await clientCommand(args, options).output());
}
