/**
 * The TCP data plane's wire format, and the two socket loops every frame goes through.
 *
 * A connection carries any number of pulls, one after another (so pullers can pool
 * connections). A pull is a 16-byte request head, then the key and the secret:
 *
 * ```
 * request:  "MWDP" | version u8 (1) | key length u8 | secret length u16 BE | max bytes u64 BE
 *           | key (ASCII) | secret (UTF-8)
 * response: "MWDP" | status u8 | 3 zero bytes | length u64 BE | payload, or a UTF-8 message
 * ```
 *
 * Status 0 (`ok`) carries the payload; any other status a message, and leaves the payload held.
 * The puller states the most it will accept (`max bytes`), so a payload over it is refused by the
 * holder before it is used up.
 *
 * @module
 */

/** The first four bytes of every request and response. */
export const MAGIC = new Uint8Array([0x4d, 0x57, 0x44, 0x50]); // "MWDP"
/** The version this code speaks. */
export const VERSION = 1;
/** Size of a request head and of a response head. */
export const HEAD_BYTES = 16;
/** Longest secret a holder reads. */
export const MAX_SECRET_BYTES = 4096;
/** Longest error message a puller reads. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** The response statuses. */
export const Status = {
  ok: 0,
  notHeld: 1,
  refused: 2,
  tooLarge: 3,
  badRequest: 4,
} as const;

/** One of {@linkcode Status}. */
export type StatusCode = (typeof Status)[keyof typeof Status];

/** A parsed request head. */
export interface RequestHead {
  keyBytes: number;
  secretBytes: number;
  maxBytes: number;
}

const te = new TextEncoder();

/** Encodes a whole request. */
export function encodeRequest(
  key: string,
  secret: string | undefined,
  maxBytes: number,
): Uint8Array {
  const keyBytes = te.encode(key);
  const secretBytes = te.encode(secret ?? "");
  if (keyBytes.length > 255) {
    throw new RangeError(`Cannot pull "${key.slice(0, 8)}…": key too long`);
  }
  if (secretBytes.length > MAX_SECRET_BYTES) {
    throw new RangeError(`The data-plane secret is longer than ${MAX_SECRET_BYTES} bytes`);
  }
  const out = new Uint8Array(HEAD_BYTES + keyBytes.length + secretBytes.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint8(4, VERSION);
  view.setUint8(5, keyBytes.length);
  view.setUint16(6, secretBytes.length);
  view.setBigUint64(8, BigInt(maxBytes));
  out.set(keyBytes, HEAD_BYTES);
  out.set(secretBytes, HEAD_BYTES + keyBytes.length);
  return out;
}

/** Parses a request head; a string says what is wrong with it. */
export function parseRequestHead(head: Uint8Array): RequestHead | string {
  if (!_hasMagic(head)) return "not a data-plane request";
  const view = new DataView(head.buffer, head.byteOffset, HEAD_BYTES);
  if (view.getUint8(4) !== VERSION) return `unsupported version "${view.getUint8(4)}"`;
  const secretBytes = view.getUint16(6);
  if (secretBytes > MAX_SECRET_BYTES) return `secret longer than ${MAX_SECRET_BYTES} bytes`;
  const maxBytes = Number(view.getBigUint64(8));
  return { keyBytes: view.getUint8(5), secretBytes, maxBytes };
}

/** Encodes a response head. */
export function encodeResponseHead(status: StatusCode, length: number): Uint8Array {
  const out = new Uint8Array(HEAD_BYTES);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint8(4, status);
  view.setBigUint64(8, BigInt(length));
  return out;
}

/** Parses a response head, or returns undefined when it is not one. */
export function parseResponseHead(
  head: Uint8Array,
): { status: number; length: number } | undefined {
  if (!_hasMagic(head)) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, HEAD_BYTES);
  return { status: view.getUint8(4), length: Number(view.getBigUint64(8)) };
}

/**
 * Fills `buffer` from `conn`. Returns false when the peer closed before the first byte and
 * `eofOk` is set; throws `Deno.errors.UnexpectedEof` when it closed part-way.
 */
export async function readFull(
  conn: Deno.Conn,
  buffer: Uint8Array,
  eofOk = false,
): Promise<boolean> {
  let offset = 0;
  while (offset < buffer.length) {
    const n = await conn.read(offset === 0 ? buffer : buffer.subarray(offset));
    if (n === null) {
      if (offset === 0 && eofOk) return false;
      throw new Deno.errors.UnexpectedEof(
        `connection closed after ${offset} of ${buffer.length} bytes`,
      );
    }
    offset += n;
  }
  return true;
}

/** Writes all of `bytes` to `conn` (straight from the caller's buffer). */
export async function writeFull(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await conn.write(offset === 0 ? bytes : bytes.subarray(offset));
  }
}

function _hasMagic(head: Uint8Array): boolean {
  return head.length >= HEAD_BYTES && head[0] === MAGIC[0] && head[1] === MAGIC[1] &&
    head[2] === MAGIC[2] && head[3] === MAGIC[3];
}
