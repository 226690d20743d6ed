/**
 * What an actor needs to make itself discoverable: keys registered (and kept registered) in the
 * registry until it deregisters them. The runtime hands in its lease keeper, which has this shape.
 *
 * @module
 */

/**
 * Keeps registry keys registered for the actors of a process.
 *
 * @example
 * ```ts ignore
 * await registration.register("mesh/ns/instances/Worker/generate/ab12", JSON.stringify(info));
 * await registration.deregister("mesh/ns/instances/Worker/generate/ab12");
 * ```
 */
export interface Registration {
  /** The keys registered now, with their values. */
  readonly keys: ReadonlyMap<string, string>;
  /** Registers (or updates) a key; it stays registered until `deregister`. */
  register(key: string, value: string): Promise<void>;
  /** Deletes a key and stops keeping it. */
  deregister(key: string): Promise<void>;
}
