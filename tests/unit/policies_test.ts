/**
 * The routing policies and their hash ring (`router/policies/`) as pure
 * functions of their candidates: fake instance records, fake in-flight counts, and injected (or
 * seeded) randomness. No bus, no registry, no timers.
 *
 * What each policy promises, and what these tests hold it to:
 *
 * - `round_robin` cycles through the candidates exactly.
 * - `random` maps its random number uniformly onto the candidates.
 * - `least_loaded` picks a candidate with the fewest calls in flight and rotates among ties.
 * - `power_of_two` looks at two distinct candidates and never picks the more loaded one.
 * - `consistent_hash` keeps a key on one instance, spreads keys evenly, and when a member joins
 *   moves about 1/(N+1) of the keys, all of them to the newcomer; no key means a random pick.
 *
 * @module
 */

import { seededRandom } from "../../utils/random.ts";
import assert from "node:assert/strict";
import { fnv1a, HashRing } from "../../router/policies/hash_ring.ts";
import type { InstanceInfo } from "../../protocol/instance_info.ts";
import {
  canonicalPolicyName,
  ConsistentHashPolicy,
  createPolicy,
  LeastLoadedPolicy,
  type PickContext,
  POLICY_NAMES,
  PowerOfTwoPolicy,
  QueuePolicy,
  RandomPolicy,
  RoundRobinPolicy,
  type RoutingPolicy,
  WorkQueuePolicy,
} from "../../router/policies/mod.ts";

/** A fake instance record: only `instance` matters to the policies. */
function info(instance: string): InstanceInfo {
  return {
    namespace: "policies_test",
    component: "Echo",
    endpoint: "generate",
    instance,
    subject: `mesh.policies_test.echo.generate.${instance}`,
    hostname: "fake",
    pid: 0,
    startedAt: "",
    version: "",
    meta: {},
  };
}

function instances(...ids: string[]): InstanceInfo[] {
  return ids.map(info);
}

/** A pick context whose in-flight counts come from `loads` (0 when absent). */
function loads(table: Record<string, number> = {}, key?: string): PickContext {
  return { inflight: (instance) => table[instance] ?? 0, key };
}

/** A "random" source that returns `values` in order, then fails the test if asked again. */
function scripted(values: number[]): () => number {
  let index = 0;
  return () => {
    assert.ok(index < values.length, `random() called more than the ${values.length} scripted`);
    return values[index++]!;
  };
}

function tally(picks: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const pick of picks) counts[pick] = (counts[pick] ?? 0) + 1;
  return counts;
}

// --- round_robin ---------------------------------------------------------------------------

Deno.test("round_robin cycles through the candidates exactly, in their order", () => {
  const policy: RoutingPolicy = new RoundRobinPolicy();
  const candidates = instances("a", "b", "c");
  const picks: string[] = [];
  for (let i = 0; i < 30; i++) picks.push(policy.pick(candidates, loads()).instance);
  assert.deepEqual(picks, Array.from({ length: 30 }, (_, i) => "abc"[i % 3]));
});

Deno.test("round_robin ignores load: a busy instance still gets its turn", () => {
  const policy: RoutingPolicy = new RoundRobinPolicy();
  const candidates = instances("a", "b");
  const picks = [0, 1, 2, 3].map(() => policy.pick(candidates, loads({ a: 99 })).instance);
  assert.deepEqual(picks, ["a", "b", "a", "b"]);
});

Deno.test("each round_robin policy object keeps its own position", () => {
  const first: RoutingPolicy = new RoundRobinPolicy();
  const second: RoutingPolicy = new RoundRobinPolicy();
  const candidates = instances("a", "b", "c");
  assert.equal(first.pick(candidates, loads()).instance, "a");
  assert.equal(first.pick(candidates, loads()).instance, "b");
  assert.equal(second.pick(candidates, loads()).instance, "a");
});

// --- random --------------------------------------------------------------------------------

Deno.test("random maps its random number uniformly onto the candidates", () => {
  const candidates = instances("a", "b", "c");
  const policy = new RandomPolicy(scripted([0, 0.33, 0.34, 0.66, 0.67, 0.999999]));
  const picks = candidates.concat(candidates).map(() => policy.pick(candidates).instance);
  assert.deepEqual(picks, ["a", "a", "b", "b", "c", "c"]);
});

Deno.test("random over 30,000 seeded picks: every candidate near a third", () => {
  const candidates = instances("a", "b", "c");
  const policy = new RandomPolicy(seededRandom(7));
  const counts = tally(Array.from({ length: 30_000 }, () => policy.pick(candidates).instance));
  let chiSquare = 0;
  for (const id of ["a", "b", "c"]) chiSquare += (counts[id]! - 10_000) ** 2 / 10_000;
  assert.ok(chiSquare < 13.82, `chi-square ${chiSquare} (counts ${JSON.stringify(counts)})`);
});

// --- least_loaded --------------------------------------------------------------------------

Deno.test("least_loaded always picks the candidate with the fewest calls in flight", () => {
  const policy = new LeastLoadedPolicy();
  const candidates = instances("a", "b", "c", "d");
  const table = { a: 3, b: 1, c: 2, d: 4 };
  for (let i = 0; i < 12; i++) assert.equal(policy.pick(candidates, loads(table)).instance, "b");
});

Deno.test("least_loaded rotates among candidates that tie", () => {
  const policy = new LeastLoadedPolicy();
  const candidates = instances("a", "b", "c");
  const idle = Array.from({ length: 9 }, () => policy.pick(candidates, loads()).instance);
  assert.deepEqual(idle, ["a", "b", "c", "a", "b", "c", "a", "b", "c"]);
  const allBusy = Array.from(
    { length: 6 },
    () => policy.pick(candidates, loads({ a: 2, b: 2, c: 2 })).instance,
  );
  assert.deepEqual(tally(allBusy), { a: 2, b: 2, c: 2 });
});

Deno.test("least_loaded never picks a busy instance while an idle one exists, and uses every idle one", () => {
  const policy = new LeastLoadedPolicy();
  const candidates = instances("a", "b", "c");
  const picks = Array.from({ length: 30 }, () => policy.pick(candidates, loads({ a: 5 })).instance);
  const counts = tally(picks);
  assert.equal(counts.a, undefined, JSON.stringify(counts));
  assert.ok(counts.b! > 0 && counts.c! > 0, JSON.stringify(counts));
});

Deno.test("least_loaded gives tied instances equal turns when another is busy", () => {
  const policy = new LeastLoadedPolicy();
  const candidates = instances("a", "b", "c");
  const picks = Array.from({ length: 30 }, () => policy.pick(candidates, loads({ a: 5 })).instance);
  // Expected: b and c in turn, 15 each. Actually b, b, c, b, b, c...: the scan starts at a
  // rotating index and the busy a's turn falls through to b, so b gets two turns in three.
  assert.deepEqual(tally(picks), { b: 15, c: 15 }, picks.join(""));
});

Deno.test("least_loaded follows the load as it changes between picks", () => {
  const policy = new LeastLoadedPolicy();
  const candidates = instances("a", "b", "c");
  const table: Record<string, number> = {};
  // Every pick adds one call in flight to the chosen instance: the picks fill evenly.
  for (let i = 0; i < 30; i++) {
    const chosen = policy.pick(candidates, loads(table)).instance;
    table[chosen] = (table[chosen] ?? 0) + 1;
  }
  assert.deepEqual(table, { a: 10, b: 10, c: 10 });
});

// --- power_of_two --------------------------------------------------------------------------

Deno.test("power_of_two compares two distinct candidates and never picks the more loaded", () => {
  const candidates = instances("a", "b", "c", "d");
  const table: Record<string, number> = { a: 0, b: 1, c: 2, d: 3 };
  const pairs = new Set<string>();
  // Every combination of the two random draws on a grid that covers each slot.
  for (let first = 0; first < 4; first++) {
    for (let second = 0; second < 3; second++) {
      const policy = new PowerOfTwoPolicy(scripted([first / 4 + 0.01, second / 3 + 0.01]));
      const asked = new Set<string>();
      const chosen = policy.pick(candidates, {
        inflight: (instance) => {
          asked.add(instance);
          return table[instance]!;
        },
      }).instance;
      assert.equal(asked.size, 2, `consulted ${[...asked]}`);
      const [x, y] = [...asked].sort();
      pairs.add(`${x}${y}`);
      assert.equal(chosen, table[x!]! <= table[y!]! ? x : y, `pair ${x},${y} picked ${chosen}`);
    }
  }
  // Twelve draws, six unordered pairs: each pair came up (twice, once per order).
  assert.deepEqual([...pairs].sort(), ["ab", "ac", "ad", "bc", "bd", "cd"]);
});

Deno.test("power_of_two with two candidates always picks the less loaded", () => {
  const policy = new PowerOfTwoPolicy(seededRandom(3));
  const candidates = instances("a", "b");
  for (let i = 0; i < 100; i++) {
    assert.equal(policy.pick(candidates, loads({ a: 4, b: 1 })).instance, "b");
    assert.equal(policy.pick(candidates, loads({ a: 0, b: 1 })).instance, "a");
  }
});

Deno.test("power_of_two with one candidate picks it without drawing", () => {
  const policy = new PowerOfTwoPolicy(scripted([]));
  assert.equal(policy.pick(instances("only"), loads({ only: 9 })).instance, "only");
});

Deno.test("power_of_two over 10,000 seeded picks avoids a heavily loaded instance", () => {
  const policy = new PowerOfTwoPolicy(seededRandom(11));
  const candidates = instances("a", "b", "c", "d");
  const picks = Array.from(
    { length: 10_000 },
    () => policy.pick(candidates, loads({ a: 50, b: 1, c: 0, d: 1 })).instance,
  );
  const counts = tally(picks);
  assert.equal(counts.a, undefined, JSON.stringify(counts));
  // c (idle) wins every pair it is in: half of all pairs with four candidates.
  assert.ok(Math.abs(counts.c! / 10_000 - 0.5) < 0.03, JSON.stringify(counts));
  // b and d tie; each wins the rest about equally.
  assert.ok(Math.abs(counts.b! - counts.d!) < 600, JSON.stringify(counts));
});

Deno.test("power_of_two spreads evenly when nothing is in flight", () => {
  const policy = new PowerOfTwoPolicy(seededRandom(5));
  const candidates = instances("a", "b", "c");
  const counts = tally(
    Array.from({ length: 30_000 }, () => policy.pick(candidates, loads()).instance),
  );
  let chiSquare = 0;
  for (const id of ["a", "b", "c"]) chiSquare += (counts[id]! - 10_000) ** 2 / 10_000;
  assert.ok(chiSquare < 13.82, `chi-square ${chiSquare} (counts ${JSON.stringify(counts)})`);
});

// --- hash ring -----------------------------------------------------------------------------

const KEYS = Array.from({ length: 10_000 }, (_, i) => `session-${i}`);
/** Instance ids shaped like the real ones (12 hex digits). */
const MEMBERS = ["3f0c9a1b22d4", "77aa01bc9e10", "0b3c4d5e6f70", "c0ffee123456"];
const NEWCOMER = "5e5e5e5e5e5e";

Deno.test("fnv1a is a deterministic unsigned 32-bit hash", () => {
  for (const text of ["", "a", "session-1", "é😀"]) {
    const hash = fnv1a(text);
    assert.equal(hash, fnv1a(text));
    assert.ok(Number.isInteger(hash) && hash >= 0 && hash <= 0xffffffff, `${text}: ${hash}`);
  }
  assert.notEqual(fnv1a("session-1"), fnv1a("session-2"));
});

Deno.test("HashRing: an empty ring owns nothing; a one-member ring owns everything", () => {
  const empty = new HashRing([]);
  assert.deepEqual(empty.members, []);
  assert.equal(empty.owner("anything"), undefined);
  assert.equal(empty.owner(""), undefined);
  const single = new HashRing(["solo"]);
  for (const key of KEYS.slice(0, 500)) assert.equal(single.owner(key), "solo");
});

Deno.test("HashRing: the owner depends on the members, not on their order or the ring object", () => {
  const ring = new HashRing(MEMBERS);
  const shuffled = new HashRing([...MEMBERS].reverse());
  for (const key of KEYS) {
    const owner = ring.owner(key);
    assert.equal(ring.owner(key), owner);
    assert.equal(shuffled.owner(key), owner, key);
  }
});

Deno.test("HashRing: 10,000 keys over 4 members, each member gets 15%..35%", () => {
  const ring = new HashRing(MEMBERS);
  const counts = tally(KEYS.map((key) => ring.owner(key)!));
  assert.deepEqual(Object.keys(counts).sort(), [...MEMBERS].sort());
  for (const member of MEMBERS) {
    const share = counts[member]! / KEYS.length;
    assert.ok(share >= 0.15 && share <= 0.35, `${member}: ${share} (${JSON.stringify(counts)})`);
  }
});

Deno.test("HashRing: a fifth member takes about 1/5 of the keys, all moved keys go to it", () => {
  const before = new HashRing(MEMBERS);
  const after = new HashRing([...MEMBERS, NEWCOMER]);
  let moved = 0;
  for (const key of KEYS) {
    const [was, now] = [before.owner(key), after.owner(key)];
    if (was === now) continue;
    moved++;
    assert.equal(now, NEWCOMER, `${key} moved from ${was} to ${now}`);
  }
  const fraction = moved / KEYS.length;
  assert.ok(fraction >= 0.12 && fraction <= 0.28, `moved fraction ${fraction}`);
});

Deno.test("HashRing: when a member leaves, only its own keys move", () => {
  const before = new HashRing(MEMBERS);
  const gone = MEMBERS[1]!;
  const after = new HashRing(MEMBERS.filter((member) => member !== gone));
  for (const key of KEYS) {
    const was = before.owner(key);
    if (was !== gone) assert.equal(after.owner(key), was, key);
    else assert.notEqual(after.owner(key), gone);
  }
});

// --- consistent_hash -----------------------------------------------------------------------

Deno.test("consistent_hash sends the same key to the same instance, whatever the load or array", () => {
  const policy = new ConsistentHashPolicy();
  const first = new Map<string, string>();
  for (const key of KEYS.slice(0, 2000)) {
    first.set(key, policy.pick(instances(...MEMBERS), loads({}, key)).instance);
  }
  for (const key of KEYS.slice(0, 2000)) {
    // A fresh array, another order, other loads: same owner.
    const candidates = instances(...[...MEMBERS].reverse());
    const table = { [first.get(key)!]: 100 };
    assert.equal(policy.pick(candidates, loads(table, key)).instance, first.get(key), key);
  }
});

Deno.test("consistent_hash: 4 -> 5 instances moves 12%..28% of 10,000 keys, all to the newcomer", () => {
  const policy = new ConsistentHashPolicy();
  const four = instances(...MEMBERS);
  const five = instances(...MEMBERS, NEWCOMER);
  const owners = KEYS.map((key) => policy.pick(four, loads({}, key)).instance);
  const shares = tally(owners);
  for (const member of MEMBERS) {
    const share = shares[member]! / KEYS.length;
    assert.ok(share >= 0.15 && share <= 0.35, `${member}: ${share} (${JSON.stringify(shares)})`);
  }
  let moved = 0;
  KEYS.forEach((key, i) => {
    const now = policy.pick(five, loads({}, key)).instance;
    if (now === owners[i]) return;
    moved++;
    assert.equal(now, NEWCOMER, `${key} moved from ${owners[i]} to ${now}`);
  });
  const fraction = moved / KEYS.length;
  assert.ok(fraction >= 0.12 && fraction <= 0.28, `moved fraction ${fraction}`);
  // Back to four: every key returns to its first owner.
  KEYS.forEach((key, i) => assert.equal(policy.pick(four, loads({}, key)).instance, owners[i]));
});

Deno.test("consistent_hash without a key falls back to a random pick", () => {
  const original = Math.random;
  let policy: ConsistentHashPolicy;
  // The fallback RandomPolicy takes Math.random when it is built: script it for that moment.
  Math.random = scripted([0.1, 0.5, 0.9, 0.1]);
  try {
    policy = new ConsistentHashPolicy();
  } finally {
    Math.random = original;
  }
  const candidates = instances("a", "b", "c");
  const picks = [0, 1, 2, 3].map(() => policy.pick(candidates, loads()).instance);
  assert.deepEqual(picks, ["a", "b", "c", "a"]);
});

Deno.test("consistent_hash without a key spreads over every instance", () => {
  const policy = new ConsistentHashPolicy();
  const candidates = instances("a", "b", "c");
  const counts = tally(
    Array.from({ length: 3000 }, () => policy.pick(candidates, loads()).instance),
  );
  for (const id of ["a", "b", "c"]) assert.ok(counts[id]! > 700, JSON.stringify(counts));
});

// --- names ---------------------------------------------------------------------------------

Deno.test("createPolicy builds every named policy, each a fresh object", () => {
  const classes = {
    round_robin: RoundRobinPolicy,
    random: RandomPolicy,
    least_loaded: LeastLoadedPolicy,
    power_of_two: PowerOfTwoPolicy,
    consistent_hash: ConsistentHashPolicy,
    queue: QueuePolicy,
    work_queue: WorkQueuePolicy,
  };
  assert.deepEqual([...POLICY_NAMES].sort(), Object.keys(classes).sort());
  for (const name of POLICY_NAMES) {
    const policy = createPolicy(name);
    assert.ok(policy instanceof classes[name], name);
    assert.equal(policy.name, name);
    assert.notEqual(createPolicy(name), policy);
  }
});

Deno.test("createPolicy and canonicalPolicyName accept the seeds' spellings", () => {
  const aliases: Record<string, string> = {
    "round-robin": "round_robin",
    roundrobin: "round_robin",
    "least-loaded": "least_loaded",
    "power-of-two": "power_of_two",
    p2c: "power_of_two",
    "consistent-hash": "consistent_hash",
  };
  for (const [alias, name] of Object.entries(aliases)) {
    assert.equal(canonicalPolicyName(alias), name);
    assert.equal(createPolicy(alias).name, name, alias);
  }
  for (const name of POLICY_NAMES) assert.equal(canonicalPolicyName(name), name);
  assert.equal(canonicalPolicyName("fastest"), "fastest");
});

Deno.test("createPolicy rejects an unknown name with a TypeError listing the known ones", () => {
  for (const name of ["fastest", "", "Round_Robin", "direct"]) {
    assert.throws(() => createPolicy(name), (error) => {
      assert.ok(error instanceof TypeError);
      assert.equal(
        error.message,
        `Unknown routing policy ${JSON.stringify(name)}: use one of ${POLICY_NAMES.join(", ")}`,
      );
      return true;
    });
  }
});

Deno.test("queue is a policy by name whose pick() is a random fallback", () => {
  const policy = createPolicy("queue");
  assert.equal(policy.name, "queue");
  const candidates = instances("a", "b");
  for (let i = 0; i < 20; i++) {
    assert.ok(["a", "b"].includes(policy.pick(candidates, loads()).instance));
  }
});
