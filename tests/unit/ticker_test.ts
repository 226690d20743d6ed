import assert from "node:assert/strict";
import { ManualClock } from "../../utils/clock.ts";
import { Ticker } from "../../utils/ticker.ts";

Deno.test("Ticker calls every joined check each tick on one timer, and stops when none is left", () => {
  const clock = new ManualClock(0);
  const ticker = new Ticker(clock, 100);
  const calls: string[] = [];
  const a = () => calls.push("a");
  const b = () => calls.push("b");
  for (let i = 0; i < 1000; i++) ticker.join(a); // joining again is joining once
  ticker.join(b);
  assert.equal(clock.pending, 1);
  clock.advance(100);
  assert.deepEqual(calls, ["a", "b"]);
  ticker.leave(a);
  clock.advance(100);
  assert.deepEqual(calls, ["a", "b", "b"]);
  ticker.leave(b);
  clock.advance(100);
  assert.equal(clock.pending, 0);
  assert.deepEqual(calls, ["a", "b", "b"]);
  ticker.join(a);
  ticker.stop();
  assert.equal(clock.pending, 0);
});
