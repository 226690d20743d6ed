/**
 * `MemoryDataPlane` passes the data-plane contract, plus what only the in-process plane
 * promises: handles share one table, and a last pull hands over the very bytes that were put.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DataNotHeldError, HolderUnreachableError } from "../../planes/data_plane.ts";
import { MemoryDataPlane } from "../../planes/memory/memory_data_plane.ts";
import { ManualClock } from "../../utils/clock.ts";
import { dataPlaneContract, pattern, pullFails } from "../data_plane_contract.ts";

dataPlaneContract("MemoryDataPlane", () => {
  const clock = new ManualClock(1_000);
  return Promise.resolve({
    clock,
    open: (options) => Promise.resolve(new MemoryDataPlane({ clock, secret: options?.secret })),
    cleanup: () => Promise.resolve(),
  });
});

Deno.test("MemoryDataPlane: the last pull hands over the bytes that were put, not a copy", async () => {
  const [a, b] = [new MemoryDataPlane(), new MemoryDataPlane()];
  try {
    const bytes = pattern(1 << 20);
    assert.equal(await b.pull(a.put(bytes)), bytes);
    assert.equal(a.kind, "embedded");
    assert.equal(a.address, "in-process");
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("MemoryDataPlane: release() and close() free only the handle's own payloads", async () => {
  const [a, b] = [new MemoryDataPlane(), new MemoryDataPlane()];
  try {
    const mine = a.put(pattern(10));
    const theirs = b.put(pattern(20));
    a.release(theirs.key);
    assert.equal(b.stats().held, 1);
    await b.close();
    await pullFails(a, theirs, DataNotHeldError);
    assert.equal((await a.pull(mine)).length, 10);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("MemoryDataPlane: a TCP descriptor is a clear error", async () => {
  const plane = new MemoryDataPlane();
  try {
    const error = await pullFails(
      plane,
      { holder: "10.0.0.2:40123", key: "ab".repeat(16), size: 1 },
      HolderUnreachableError,
    );
    assert.equal(
      error.message,
      `Cannot pull "abababab…" from 10.0.0.2:40123: the embedded data plane pulls only in-process`,
    );
  } finally {
    await plane.close();
  }
});
