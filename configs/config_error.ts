/**
 * The one error of the config layer: a problem in a config file, an override or an environment
 * variable, whose message says where (`file:line:col: `, when known) and what.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./config_error.ts";
 *
 * const error = new ConfigError(`unknown key "Wroker"`, { file: "mesh.yaml", pos: { line: 3, col: 1 } });
 * console.log(error.message); // mesh.yaml:3:1: unknown key "Wroker"
 * ```
 *
 * @module
 */

/** A 1-based line and column in a config file. */
export interface Position {
  line: number;
  col: number;
}

/** A problem in a config file or an override; `message` says where and what. */
export class ConfigError extends Error {
  override name = "ConfigError";
  /** The config file, when the problem is in one. */
  file?: string;
  /** 1-based line and column of the problem, when known. */
  line?: number;
  col?: number;

  /** Builds the error; with a position, the message is prefixed `file:line:col: `. */
  constructor(message: string, where?: { file: string; pos?: Position }, options?: ErrorOptions) {
    const prefix = where
      ? `${where.file}${where.pos ? `:${where.pos.line}:${where.pos.col}` : ""}: `
      : "";
    super(prefix + message, options);
    this.file = where?.file;
    this.line = where?.pos?.line;
    this.col = where?.pos?.col;
  }
}
