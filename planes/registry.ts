/**
 * Discovery: a key-value store with leases and prefix watches, with etcd v3 semantics.
 *
 * Two implementations pass one contract suite (`tests/registry_contract.ts`):
 * `EtcdRegistry` (a real etcd cluster) and `MemoryRegistry` (in-process, the embedded plane).
 * The lease keeper (`lease_keeper.ts`) builds instance registration on these primitives.
 *
 * @module
 */

/** A lease id, as a decimal string (etcd ids are 64-bit). */
export type LeaseId = string;

/** A key and its value. */
export interface KeyValue {
  key: string;
  value: string;
}

/** The keys under a prefix at one revision. */
export interface PrefixSnapshot {
  kvs: KeyValue[];
  /** The store revision of the snapshot; watch from `revision + 1` to see what follows. */
  revision: bigint;
}

/** A change seen by a watch. */
export type WatchEvent =
  | { type: "put"; key: string; value: string; revision: bigint }
  | { type: "delete"; key: string; revision: bigint };

/** A live watch. */
export interface RegistryWatch {
  /** Stops the watch and releases its timers and streams. Idempotent. */
  close(): Promise<void>;
}

/** Callbacks for {@linkcode Registry.watchPrefix}. */
export interface WatchHandlers {
  /** Called once per change, in revision order. */
  onEvent(event: WatchEvent): void;
  /**
   * Called when the watch cannot go on from where it was (e.g. the store lost its history or was
   * replaced): the watcher should take a fresh snapshot. Optional.
   */
  onReset?(reason: string): void;
  /** Called when the store becomes unreachable or reachable again. Optional. */
  onConnection?(connected: boolean): void;
}

/** The discovery plane. */
export interface Registry {
  /** `"etcd"` or `"embedded"`. */
  readonly kind: string;
  /** Where the store is, for logs (endpoints, or `"in-process"`). */
  readonly address: string;
  /** Grants a lease that expires `ttlSeconds` after its last keep-alive. */
  grantLease(ttlSeconds: number): Promise<LeaseId>;
  /** Renews a lease. Resolves `false` when the lease no longer exists (expired or revoked). */
  keepAlive(lease: LeaseId): Promise<boolean>;
  /** Revokes a lease, deleting every key attached to it. A missing lease is not an error. */
  revokeLease(lease: LeaseId): Promise<void>;
  /** Writes a key, attached to `lease` when given (the key goes when the lease goes). */
  put(key: string, value: string, lease?: LeaseId): Promise<void>;
  /** Deletes a key. A missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Reads every key under `prefix`, with the revision of the read. */
  getPrefix(prefix: string): Promise<PrefixSnapshot>;
  /**
   * Watches `prefix` from `fromRevision` (inclusive), so that a `getPrefix` at revision R
   * followed by a watch from R + 1 sees every later change once, with no gap.
   */
  watchPrefix(
    prefix: string,
    fromRevision: bigint,
    handlers: WatchHandlers,
  ): Promise<RegistryWatch>;
  /** Closes the client: watches end, leases are left to expire. Idempotent. */
  close(): Promise<void>;
}
