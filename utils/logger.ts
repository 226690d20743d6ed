/**
 * One line per event: time, level, who, message, then `key=value` fields (the request id among
 * them when there is one).
 *
 * @module
 */

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Extra facts attached to a line. */
export type LogFields = Record<string, unknown>;

/** A structured, one-line logger. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines carry `fields` too (e.g. the component and instance). */
  child(fields: LogFields): Logger;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Lines below this level are dropped. Default: `"info"`. */
  level?: LogLevel;
  /** Where finished lines go. Default: standard error. */
  sink?: (line: string) => void;
  /** The clock for timestamps. Default: `Date.now`. */
  now?: () => number;
}

/** Whether a string names a log level. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === "string" && value in RANK;
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
}

/** Formats one line (exported for tests and for sinks that add their own prefix). */
export function formatLine(
  time: number,
  level: LogLevel,
  message: string,
  fields: LogFields,
): string {
  let line = `${new Date(time).toISOString()} ${level.toUpperCase().padEnd(5)} ${message}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
  }
  return line;
}

/** Creates a logger. */
export function createLogger(options: LoggerOptions = {}, fields: LogFields = {}): Logger {
  const min = RANK[options.level ?? "info"];
  const sink = options.sink ?? ((line: string) => console.error(line));
  const now = options.now ?? Date.now;
  const emit = (level: LogLevel, message: string, extra?: LogFields) => {
    if (RANK[level] < min) return;
    sink(formatLine(now(), level, message, extra ? { ...fields, ...extra } : fields));
  };
  return {
    debug: (message, extra) => emit("debug", message, extra),
    info: (message, extra) => emit("info", message, extra),
    warn: (message, extra) => emit("warn", message, extra),
    error: (message, extra) => emit("error", message, extra),
    child: (extra) => createLogger(options, { ...fields, ...extra }),
  };
}

/** A logger that drops everything (tests that do not read logs). */
export const silentLogger: Logger = createLogger({ sink: () => {} });
