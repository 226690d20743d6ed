/**
 * A consistent-hash ring: each member owns many points (virtual nodes) on a 32-bit circle, and a
 * key belongs to the first point at or after its own hash. Adding a member to N moves about 1/(N+1)
 * of the keys, all to the newcomer.
 *
 * @module
 */

/** FNV-1a, 32-bit, of a string's UTF-16 code units: fast and well spread for short ids. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // Final avalanche (murmur3's fmix32): FNV alone clusters keys that differ in the last character.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** A ring over a fixed set of members. Build a new one when the members change. */
export class HashRing {
  readonly members: readonly string[];
  #points: Uint32Array;
  #owners: string[];

  constructor(members: readonly string[], pointsPerMember = 160) {
    this.members = members;
    const points: [number, string][] = [];
    for (const member of members) {
      for (let i = 0; i < pointsPerMember; i++) points.push([fnv1a(`${member}#${i}`), member]);
    }
    points.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
    this.#points = Uint32Array.from(points, ([point]) => point);
    this.#owners = points.map(([, owner]) => owner);
  }

  /** The member that owns `key`; `undefined` on an empty ring. */
  owner(key: string): string | undefined {
    if (this.#owners.length === 0) return undefined;
    const hash = fnv1a(key);
    let low = 0;
    let high = this.#points.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.#points[mid]! < hash) low = mid + 1;
      else high = mid;
    }
    return this.#owners[low === this.#points.length ? 0 : low];
  }
}
