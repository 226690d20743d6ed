/**
 * The embedded data plane: a {@linkcode DataPlane} whose holders are tables in this process.
 *
 * Every `MemoryDataPlane` in a process shares one index of keys, so a descriptor that one handle
 * put can be pulled through any other (as `MemoryBus` handles share a plane); each handle owns
 * what it put: its TTLs run on its clock, `release` and `close` free only its payloads, and its
 * counters count only its own traffic. Descriptors name the holder `"in-process"`.
 *
 * A pull hands over the very bytes that were put (no copy) when it is the payload's last pull,
 * and a copy otherwise, so one puller cannot change what the next one gets.
 *
 * Counters: a refusal for bad credentials counts on the holding handle; a pull of a key that is
 * not held (any more) names no handle, so it counts on the handle that asked.
 *
 * @example
 * ```ts
 * import { MemoryDataPlane } from "./memory_data_plane.ts";
 * const producer = new MemoryDataPlane();
 * const consumer = new MemoryDataPlane();
 * const descriptor = producer.put(new Uint8Array(1 << 20), { meta: { dtype: "uint8" } });
 * const bytes = await consumer.pull(descriptor);
 * console.assert(bytes.length === 1 << 20);
 * await Promise.all([producer.close(), consumer.close()]);
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
  DataRefusedError,
  type Descriptor,
  HolderUnreachableError,
  type PullOptions,
  type PutOptions,
} from "../data_plane.ts";
import { DataHolder } from "../data_holder.ts";
import type { Clock } from "../../utils/clock.ts";

/** The address every in-process descriptor names. */
export const IN_PROCESS = "in-process";

/** Options for {@linkcode MemoryDataPlane}. */
export interface MemoryDataPlaneOptions {
  /** Reads time for TTLs. Default: the system clock. */
  clock?: Clock;
  /** TTL of a put that names none. Default 60 s. */
  ttlMs?: number;
  /**
   * A shared secret: this handle's payloads are refused to handles without the same secret, and
   * this handle presents it when it pulls (as the TCP plane does across processes).
   */
  secret?: string;
}

/** Which handle holds each key, across the process. */
const _index = new Map<string, MemoryDataPlane>();

/** The embedded data plane (see the module doc). */
export class MemoryDataPlane implements DataPlane {
  /** Always `"embedded"`. */
  readonly kind = "embedded";
  /** Always `"in-process"`. */
  readonly address = IN_PROCESS;
  readonly #holder: DataHolder;
  readonly #secret?: string;
  #closed = false;
  #counters = { bytesServed: 0, bytesPulled: 0, pulls: 0, refusals: 0 };

  constructor(options: MemoryDataPlaneOptions = {}) {
    this.#secret = options.secret;
    this.#holder = new DataHolder({
      clock: options.clock,
      ttlMs: options.ttlMs,
      onFree: (key) => _index.delete(key),
    });
  }

  put(bytes: Uint8Array, options: PutOptions = {}): Descriptor {
    if (this.#closed) throw new DataPlaneClosedError();
    checkPutOptions(options);
    const key = this.#holder.hold(
      bytes,
      options.ttlMs ?? this.#holder.ttlMs,
      options.pulls ?? 1,
    );
    _index.set(key, this);
    const descriptor: Descriptor = { holder: IN_PROCESS, key, size: bytes.byteLength };
    if (options.meta !== undefined) descriptor.meta = options.meta;
    return descriptor;
  }

  pull(descriptor: Descriptor, options: PullOptions = {}): Promise<Uint8Array> {
    try {
      if (this.#closed) throw new DataPlaneClosedError();
      checkDescriptor(descriptor);
      options.signal?.throwIfAborted();
      const { key, holder } = descriptor;
      if (holder !== IN_PROCESS) {
        throw new HolderUnreachableError(
          key,
          holder,
          "the embedded data plane pulls only in-process",
        );
      }
      const owner = _index.get(key);
      if (!owner) {
        this.#counters.refusals += 1; // a freed key names no handle: the asking one counts it
        throw new DataNotHeldError(key, holder);
      }
      if (owner.#secret !== undefined && owner.#secret !== this.#secret) {
        owner.#counters.refusals += 1;
        throw new DataRefusedError(key, holder);
      }
      const copy = owner.#holder.keepsAfterTake(key);
      const held = owner.#holder.take(key)!;
      const bytes = copy ? held.slice() : held;
      owner.#counters.bytesServed += bytes.byteLength;
      this.#counters.bytesPulled += bytes.byteLength;
      this.#counters.pulls += 1;
      return Promise.resolve(bytes);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  release(key: string): void {
    if (_index.get(key) === this) this.#holder.release(key);
  }

  stats(): DataPlaneStats {
    return { held: this.#holder.count, heldBytes: this.#holder.bytes, ...this.#counters };
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#holder.clear();
    return Promise.resolve();
  }
}
