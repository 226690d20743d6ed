/**
 * The data plane: large payloads travel point to point, by descriptor, never over the bus.
 *
 * A producer keeps the bytes in its data plane ({@linkcode DataPlane.put}) and sends a small
 * {@linkcode Descriptor} (the holder's address, an unguessable key, the size, opaque `meta`) in
 * its request or reply; whoever needs the bytes pulls them straight from the holder
 * ({@linkcode DataPlane.pull}). A descriptor can be handed on unread, so the process that finally
 * pulls may be neither the producer's caller nor the producer itself. The holder frees a payload
 * once it has been pulled (once by default, `pulls` times on request) or when its TTL runs out;
 * a pull after that fails with a {@linkcode DataNotHeldError}.
 *
 * Two implementations pass one contract suite (`tests/data_plane_contract.ts`): `TcpDataPlane`
 * (`planes/tcp/`, pulls over TCP) and `MemoryDataPlane` (`planes/memory/`, the embedded plane:
 * one in-process table).
 *
 * @module
 */

/** Names a payload held by a data plane; plain JSON, safe to put in a message and hand on. */
export interface Descriptor {
  /** The holder's address: `host:port` for TCP, `"in-process"` for the embedded plane. */
  holder: string;
  /** 128 random bits as 32 lower-case hex digits: knowing the key is the right to pull. */
  key: string;
  /** The payload's length in bytes. */
  size: number;
  /** Opaque to the plane, e.g. a tensor's `{dtype, shape}`. */
  meta?: Record<string, unknown>;
}

/** Options for {@linkcode DataPlane.put}. */
export interface PutOptions {
  /** Frees the payload this long after the put, pulled or not. Default: the plane's TTL. */
  ttlMs?: number;
  /**
   * How many pulls the payload serves before it is freed. Default 1; `Infinity` keeps it until
   * the TTL (or {@linkcode DataPlane.release}).
   */
  pulls?: number;
  /** Copied into the descriptor as is. */
  meta?: Record<string, unknown>;
}

/** Options for {@linkcode DataPlane.pull}. */
export interface PullOptions {
  /** Aborts the pull; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Counters for tests and metrics. */
export interface DataPlaneStats {
  /** Payloads this plane holds now. */
  held: number;
  /** Their total size in bytes. */
  heldBytes: number;
  /** Bytes this plane handed to pullers (itself included). */
  bytesServed: number;
  /** Bytes this plane pulled (from any holder, itself included). */
  bytesPulled: number;
  /** Pulls this plane made that succeeded. */
  pulls: number;
  /** Pull requests this plane, as a holder, turned down: not held, bad credentials, bad request. */
  refusals: number;
}

/** The data plane. */
export interface DataPlane {
  /** `"tcp"` or `"embedded"`. */
  readonly kind: string;
  /** The address descriptors name: the advertised `host:port`, or `"in-process"`. */
  readonly address: string;
  /**
   * Keeps `bytes` (not copied: do not change them afterwards) and returns a descriptor that anyone
   * can pull once, or `options.pulls` times, until the TTL. A closed plane throws a
   * {@linkcode DataPlaneClosedError}.
   */
  put(bytes: Uint8Array, options?: PutOptions): Descriptor;
  /**
   * Pulls the bytes a descriptor names from whichever holder has them (this plane included).
   * Rejects with a {@linkcode DataNotHeldError}, {@linkcode DataRefusedError},
   * {@linkcode HolderUnreachableError} or {@linkcode DataProtocolError}.
   */
  pull(descriptor: Descriptor, options?: PullOptions): Promise<Uint8Array>;
  /** Frees a payload this plane holds before its pulls or TTL are used up. Unknown keys are ignored. */
  release(key: string): void;
  /** The counters, as of now. */
  stats(): DataPlaneStats;
  /** Frees every held payload, stops serving and closes pooled connections. Idempotent. */
  close(): Promise<void>;
}

/** Default payload size from which callers should send a descriptor instead of the bytes: 64 KiB. */
export const DEFAULT_DATA_THRESHOLD = 64 * 1024;
/** Default time a payload is held: 60 s. */
export const DEFAULT_DATA_TTL_MS = 60_000;
/** Default largest payload a pull accepts: 1 GiB. */
export const DEFAULT_MAX_PULL_BYTES = 1024 * 1024 * 1024;

/** What every data-plane failure has in common; catch this to catch them all. */
export class DataPlaneError extends Error {
  /** The holder address the failure is about. */
  readonly holder: string;
  constructor(message: string, holder: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DataPlaneError";
    this.holder = holder;
  }
}

/** The holder does not hold the key: already pulled, expired, released, or never put. */
export class DataNotHeldError extends DataPlaneError {
  constructor(key: string, holder: string, options?: ErrorOptions) {
    super(`${pullPrefix(key, holder)}: not held (already pulled or expired)`, holder, options);
    this.name = "DataNotHeldError";
  }
}

/** The holder refused the puller's credentials (missing or different secret). */
export class DataRefusedError extends DataPlaneError {
  constructor(key: string, holder: string, options?: ErrorOptions) {
    super(
      `${pullPrefix(key, holder)}: refused: bad or missing data-plane credentials`,
      holder,
      options,
    );
    this.name = "DataRefusedError";
  }
}

/** The holder could not be reached, or the transfer broke off or timed out. */
export class HolderUnreachableError extends DataPlaneError {
  constructor(key: string, holder: string, reason: string, options?: ErrorOptions) {
    super(`${pullPrefix(key, holder)}: ${reason}`, holder, options);
    this.name = "HolderUnreachableError";
  }
}

/** The holder answered something the puller will not accept (bad frame, size over a limit). */
export class DataProtocolError extends DataPlaneError {
  constructor(key: string, holder: string, reason: string, options?: ErrorOptions) {
    super(`${pullPrefix(key, holder)}: ${reason}`, holder, options);
    this.name = "DataProtocolError";
  }
}

/** Thrown by `put` on a closed plane, and by `pull` on one. */
export class DataPlaneClosedError extends Error {
  constructor(message = "The data plane is closed", options?: ErrorOptions) {
    super(message, options);
    this.name = "DataPlaneClosedError";
  }
}

/**
 * A fresh key: 128 bits from `crypto.getRandomValues`, as 32 lower-case hex digits. Keys are
 * capabilities, so they never come from an injected (repeatable) `Random`.
 */
export function newDataKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/** `Cannot pull "3fa2c1d0…" from 10.0.0.2:40123`: the start of every pull error (8 key digits). */
export function pullPrefix(key: string, holder: string): string {
  return `Cannot pull "${String(key).slice(0, 8)}…" from ${holder}`;
}

/**
 * Throws a `TypeError` unless `descriptor` has the shape of a {@linkcode Descriptor} (it usually
 * arrives in a message from another process).
 */
export function checkDescriptor(descriptor: Descriptor): void {
  const d = descriptor as Partial<Descriptor> | null;
  const ok = typeof d === "object" && d !== null && typeof d.holder === "string" &&
    d.holder.length > 0 && typeof d.key === "string" && d.key.length > 0 &&
    d.key.length <= 255 && Number.isSafeInteger(d.size) && d.size! >= 0;
  if (!ok) throw new TypeError(`Cannot pull ${JSON.stringify(descriptor)}: not a data descriptor`);
}

/** Throws a `RangeError` unless the put options are sound. */
export function checkPutOptions(options: PutOptions): void {
  const { ttlMs, pulls } = options;
  if (ttlMs !== undefined && !(ttlMs > 0)) {
    throw new RangeError(`Cannot put with ttlMs "${ttlMs}": not a positive number`);
  }
  if (pulls !== undefined && !(pulls === Infinity || (Number.isInteger(pulls) && pulls >= 1))) {
    throw new RangeError(`Cannot put with pulls "${pulls}": not a whole number >= 1 or Infinity`);
  }
}
