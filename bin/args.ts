/**
 * Command-line arguments shared by `serve`, `worker` and `status`: named options plus
 * Dynamo-style overrides `--Component.key=value`, which go to the config loader as they are.
 *
 * @module
 */

/** Parsed arguments. */
export interface ParsedArgs {
  options: Record<string, string | boolean>;
  /** `--Component.key=value` overrides, in order. */
  overrides: string[];
}

/** A usage problem: the CLI prints the message and the command's usage, never a stack. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Parses `args`. `valued` options take a value (`--config x` or `--config=x`), `flags` take none;
 * `aliases` maps short names (`-f`) to long ones. An argument whose name contains a dot is an
 * override. Anything else is a `UsageError` naming it.
 */
export function parseArgs(
  args: readonly string[],
  spec: { valued: readonly string[]; flags: readonly string[]; aliases?: Record<string, string> },
): ParsedArgs {
  const options: Record<string, string | boolean> = {};
  const overrides: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const match = /^--?([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!match) throw new UsageError(`Unexpected argument ${JSON.stringify(arg)}`);
    const name = spec.aliases?.[match[1]!] ?? match[1]!;
    if (name.includes(".")) {
      if (match[2] !== undefined) overrides.push(`--${name}=${match[2]}`);
      else {
        const value = args[++i];
        if (value === undefined) throw new UsageError(`Override --${name} needs a value`);
        overrides.push(`--${name}=${value}`);
      }
      continue;
    }
    if (spec.flags.includes(name)) {
      if (match[2] !== undefined) throw new UsageError(`Option --${name} takes no value`);
      options[name] = true;
    } else if (spec.valued.includes(name)) {
      const value = match[2] ?? args[++i];
      if (value === undefined || value === "") {
        throw new UsageError(`Option --${name} needs a value`);
      }
      options[name] = value;
    } else {
      throw new UsageError(`Unknown option ${JSON.stringify(arg)}`);
    }
  }
  return { options, overrides };
}
