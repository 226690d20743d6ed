/**
 * A table of values by small integer slot, reusing freed slots: for per-call records that come
 * and go by the thousand per second. A `Map` that gains and loses an entry per call rehashes its
 * table (a new allocation, in V8's C++ runtime) every few dozen calls; an array with a free list
 * never does once it has grown to the largest number in use at once.
 *
 * @example
 * ```ts
 * import { SlotTable } from "./slot_table.ts";
 * const table = new SlotTable<{ slot: number; name: string }>();
 * const a = table.add((slot) => ({ slot, name: "a" }));
 * table.remove(a.slot);
 * const b = table.add((slot) => ({ slot, name: "b" })); // reuses a's slot
 * console.assert(a.slot === b.slot && table.get(b.slot) === b && table.size === 1);
 * ```
 *
 * @module
 */

/** Values by slot; a removed slot is handed out again by a later `add`. */
export class SlotTable<T> {
  #values: (T | undefined)[] = [];
  #free: number[] = [];
  #size = 0;

  /** How many values the table holds. */
  get size(): number {
    return this.#size;
  }

  /** Stores the value `make` builds for a free slot (it may keep the slot), and returns it. */
  add(make: (slot: number) => T): T {
    const slot = this.#free.length > 0 ? this.#free.pop()! : this.#values.length;
    const value = make(slot);
    this.#values[slot] = value;
    this.#size++;
    return value;
  }

  /** The value in `slot`, if any (any number is safe to ask for). */
  get(slot: number): T | undefined {
    return this.#values[slot];
  }

  /** Empties `slot`; emptying an empty slot does nothing. */
  remove(slot: number): void {
    if (this.#values[slot] === undefined) return;
    this.#values[slot] = undefined;
    this.#free.push(slot);
    this.#size--;
  }

  /** The values, in slot order; removing values while iterating is safe. */
  *values(): IterableIterator<T> {
    const values = this.#values;
    for (let slot = 0; slot < values.length; slot++) {
      const value = values[slot];
      if (value !== undefined) yield value;
    }
  }

  /** Empties every slot. */
  clear(): void {
    this.#values = [];
    this.#free = [];
    this.#size = 0;
  }
}
