import assert from "node:assert/strict";
import { ManualClock } from "../../utils/clock.ts";
import { TimeoutQueue } from "../../utils/timeout_queue.ts";

Deno.test("TimeoutQueue fires each time-out ms after it was added, in order, on one timer", () => {
  const clock = new ManualClock(0);
  const queue = new TimeoutQueue(clock, 1000);
  const fired: string[] = [];
  queue.add(() => fired.push("a"));
  clock.advance(300);
  queue.add(() => fired.push("b"));
  assert.equal(clock.pending, 1);
  clock.advance(699);
  assert.deepEqual(fired, []);
  clock.advance(1);
  assert.deepEqual(fired, ["a"]);
  clock.advance(299);
  assert.deepEqual(fired, ["a"]);
  clock.advance(1);
  assert.deepEqual(fired, ["a", "b"]);
  assert.equal(clock.pending, 0);
  assert.equal(queue.size, 0);
});

Deno.test("TimeoutQueue: a cancelled time-out never fires; cancelling all of them leaves no timer behind", () => {
  const clock = new ManualClock(0);
  const queue = new TimeoutQueue(clock, 100);
  const fired: number[] = [];
  const timeouts = Array.from({ length: 1000 }, (_, i) => queue.add(() => fired.push(i)));
  for (let i = 0; i < 1000; i++) if (i !== 500) timeouts[i]!.cancel();
  timeouts[0]!.cancel(); // twice: no effect
  assert.equal(queue.size, 1);
  clock.advance(100);
  assert.deepEqual(fired, [500]);
  const last = queue.add(() => fired.push(-1));
  last.cancel();
  // The timer stays armed (cheaper than clearing and setting it per time-out), fires once, stops.
  clock.advance(100);
  assert.equal(clock.pending, 0);
  clock.advance(1000);
  assert.deepEqual(fired, [500]);
});

Deno.test("TimeoutQueue: a time-out may cancel others and add new ones while firing", () => {
  const clock = new ManualClock(0);
  const queue = new TimeoutQueue(clock, 10);
  const fired: string[] = [];
  queue.add(() => {
    fired.push("first");
    second.cancel();
    queue.add(() => fired.push("added"));
  });
  const second = queue.add(() => fired.push("second"));
  queue.add(() => fired.push("third"));
  clock.advance(10);
  assert.deepEqual(fired, ["first", "third"]);
  clock.advance(10);
  assert.deepEqual(fired, ["first", "third", "added"]);
  queue.add(() => fired.push("never"));
  queue.clear();
  clock.advance(100);
  assert.deepEqual(fired, ["first", "third", "added"]);
  assert.equal(clock.pending, 0);
});
