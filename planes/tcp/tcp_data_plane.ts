/**
 * The cluster data plane: a {@linkcode DataPlane} that holds payloads in this process and serves
 * them over TCP to whoever presents their descriptor.
 *
 * Each `TcpDataPlane` listens on its own port and is one holder: descriptors name its advertised
 * `host:port`. A pull connects to the holder the descriptor names (reusing a pooled connection
 * when there is one), sends the key and the shared secret, and reads the payload into one buffer
 * of the announced size; the holder writes it straight from the buffer that was put. A pull of a
 * payload this plane holds itself is served without a socket. The wire format is in `wire.ts`.
 *
 * @example
 * ```ts ignore
 * import { TcpDataPlane } from "./tcp_data_plane.ts";
 * const encoder = new TcpDataPlane({ hostname: "127.0.0.1" });
 * const decoder = new TcpDataPlane({ hostname: "127.0.0.1" });
 * const descriptor = encoder.put(new Uint8Array(16 << 20), { meta: { dtype: "uint8" } });
 * const bytes = await decoder.pull(descriptor); // straight from the encoder's process
 * await Promise.all([encoder.close(), decoder.close()]);
 * ```
 *
 * @module
 */

import {
  checkDescriptor,
  checkPutOptions,
  DataNotHeldError,
  type DataPlane,
  DataPlaneClosedError,
  type DataPlaneStats,
  DEFAULT_MAX_PULL_BYTES,
  type Descriptor,
  type PullOptions,
  type PutOptions,
} from "../data_plane.ts";
import { DataHolder } from "../data_holder.ts";
import type { Clock } from "../../utils/clock.ts";
import { advertisedHost, formatHostPort } from "./address.ts";
import { DataPuller } from "./puller.ts";
import { DataServer, type PullAnswer } from "./server.ts";
import { Status } from "./wire.ts";

/** Options for {@linkcode TcpDataPlane}. */
export interface TcpDataPlaneOptions {
  /** Interface to listen on. Default `"0.0.0.0"`. */
  hostname?: string;
  /** Port to listen on. Default 0 (the system picks one). */
  port?: number;
  /**
   * Host that descriptors name. Default: `hostname`, or, when listening on every interface, the
   * machine's first non-loopback IPv4 address (127.0.0.1 when there is none).
   */
  advertise?: string;
  /** Reads time for TTLs. Default: the system clock. */
  clock?: Clock;
  /** TTL of a put that names none. Default 60 s. */
  ttlMs?: number;
  /** A shared secret: pulls of this plane's payloads must present it, and pulls by it do. */
  secret?: string;
  /** Bounds one pull (connect, request, transfer). Default 30 s. */
  timeoutMs?: number;
  /** Largest payload a pull accepts. Default 1 GiB. */
  maxPullBytes?: number;
}

const te = new TextEncoder();
const _EMPTY = new Uint8Array(0);

/** The TCP data plane (see the module doc). */
export class TcpDataPlane implements DataPlane {
  /** Always `"tcp"`. */
  readonly kind = "tcp";
  /** The advertised `host:port` that descriptors name. */
  readonly address: string;
  readonly #holder: DataHolder;
  readonly #secret?: string;
  readonly #secretBytes?: Uint8Array;
  readonly #server: DataServer;
  readonly #puller: DataPuller;
  #closed = false;
  #counters = { bytesServed: 0, bytesPulled: 0, pulls: 0, refusals: 0 };

  /** Listens at once; throws when the address cannot be bound. */
  constructor(options: TcpDataPlaneOptions = {}) {
    const hostname = options.hostname ?? "0.0.0.0";
    const port = options.port ?? 0;
    let listener: Deno.TcpListener;
    try {
      listener = Deno.listen({ hostname, port, transport: "tcp" });
    } catch (error) {
      const reason = error instanceof Deno.errors.AddrInUse ? "address in use" : String(error);
      throw new Error(
        `Cannot listen for the data plane on ${formatHostPort(hostname, port)}: ${reason}`,
        { cause: error },
      );
    }
    const bound = (listener.addr as Deno.NetAddr).port;
    this.address = formatHostPort(advertisedHost(hostname, options.advertise), bound);
    this.#secret = options.secret || undefined;
    this.#secretBytes = this.#secret === undefined ? undefined : te.encode(this.#secret);
    this.#holder = new DataHolder({ clock: options.clock, ttlMs: options.ttlMs });
    this.#server = new DataServer(
      listener,
      (key, secret, maxBytes) => this.#answer(key, secret, maxBytes),
      () => (this.#counters.refusals += 1),
    );
    this.#puller = new DataPuller({
      secret: this.#secret,
      timeoutMs: options.timeoutMs ?? 30_000,
      maxPullBytes: options.maxPullBytes ?? DEFAULT_MAX_PULL_BYTES,
    });
  }

  put(bytes: Uint8Array, options: PutOptions = {}): Descriptor {
    if (this.#closed) throw new DataPlaneClosedError();
    checkPutOptions(options);
    const key = this.#holder.hold(bytes, options.ttlMs ?? this.#holder.ttlMs, options.pulls ?? 1);
    const descriptor: Descriptor = { holder: this.address, key, size: bytes.byteLength };
    if (options.meta !== undefined) descriptor.meta = options.meta;
    return descriptor;
  }

  async pull(descriptor: Descriptor, options: PullOptions = {}): Promise<Uint8Array> {
    if (this.#closed) throw new DataPlaneClosedError();
    checkDescriptor(descriptor);
    options.signal?.throwIfAborted();
    const bytes = descriptor.holder === this.address
      ? this.#takeLocal(descriptor)
      : await this.#puller.pull(descriptor, options.signal);
    this.#counters.bytesPulled += bytes.byteLength;
    this.#counters.pulls += 1;
    return bytes;
  }

  release(key: string): void {
    this.#holder.release(key);
  }

  stats(): DataPlaneStats {
    return { held: this.#holder.count, heldBytes: this.#holder.bytes, ...this.#counters };
  }

  /** Connections the holder has accepted so far (pooling keeps this low). */
  get connectionsAccepted(): number {
    return this.#server.accepted;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#holder.clear();
    this.#puller.close();
    await this.#server.close();
  }

  #takeLocal({ key, holder }: Descriptor): Uint8Array {
    const copy = this.#holder.keepsAfterTake(key);
    const held = this.#holder.take(key);
    if (!held) {
      this.#counters.refusals += 1;
      throw new DataNotHeldError(key, holder);
    }
    this.#counters.bytesServed += held.byteLength;
    return copy ? held.slice() : held;
  }

  #answer(key: string, secret: string, maxBytes: number): PullAnswer {
    if (this.#secretBytes && !_sameBytes(te.encode(secret), this.#secretBytes)) {
      this.#counters.refusals += 1;
      return { status: Status.refused, bytes: _EMPTY };
    }
    const size = this.#holder.sizeOf(key);
    if (size === undefined) {
      this.#counters.refusals += 1;
      return { status: Status.notHeld, bytes: _EMPTY };
    }
    if (size > maxBytes) {
      this.#counters.refusals += 1;
      const message = `the payload is ${size} bytes, over the puller's limit of ${maxBytes}`;
      return { status: Status.tooLarge, bytes: te.encode(message) };
    }
    const bytes = this.#holder.take(key)!;
    this.#counters.bytesServed += bytes.byteLength;
    return { status: Status.ok, bytes };
  }
}

/** Compares in time that depends only on the lengths (secrets are not leaked byte by byte). */
function _sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i] ?? 0) ^ b[i]!;
  return diff === 0;
}
