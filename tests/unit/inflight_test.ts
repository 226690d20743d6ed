import assert from "node:assert/strict";
import { ManualClock } from "../../utils/clock.ts";
import { InflightRequests } from "../../actors/inflight.ts";
import { MeshError } from "../../protocol/errors.ts";

Deno.test("in-flight requests: leaving from the middle keeps every other one findable", () => {
  const clock = new ManualClock(0);
  const inflight = new InflightRequests(clock, 1000, () => {});
  const [a, b, c, d] = ["a", "b", "c", "d"].map((id) => inflight.track(id, 10_000));
  inflight.untrack(b!);
  inflight.untrack(b!); // a second untrack does nothing
  assert.equal(inflight.size, 3);
  assert.equal(inflight.get("a"), a);
  assert.equal(inflight.get("b"), undefined);
  assert.equal(inflight.get("c"), c);
  assert.equal(inflight.get("d"), d);
  inflight.untrack(a!);
  inflight.untrack(d!);
  assert.equal(inflight.get("c"), c);
  inflight.untrack(c!);
  assert.equal(inflight.size, 0);
  inflight.stopTimer();
});

Deno.test("in-flight requests: abortAll reaches every request, even as each leaves when aborted", async () => {
  const clock = new ManualClock(0);
  const inflight = new InflightRequests(clock, 1000, () => {});
  const requests = Array.from({ length: 5 }, (_, i) => inflight.track(`r${i}`, 10_000));
  for (const request of requests) {
    request.controller.signal.addEventListener("abort", () => {
      inflight.untrack(request);
    });
  }
  const drained = inflight.drained();
  inflight.abortAll(() => new MeshError("instance_lost", "gone"));
  await drained;
  assert.ok(requests.every((r) => r.controller.signal.aborted));
  assert.equal(inflight.size, 0);
  inflight.stopTimer();
});

Deno.test("in-flight requests: the tick aborts those past their deadline and heartbeats quiet ones", () => {
  const clock = new ManualClock(0);
  const beats: string[] = [];
  const inflight = new InflightRequests(clock, 1000, (_request, id) => beats.push(id));
  const late = inflight.track("late", 150, "_INBOX.x.1");
  const slow = inflight.track("slow", 60_000, "_INBOX.x.2");
  late.controller.signal.addEventListener("abort", () => inflight.untrack(late));
  clock.advance(200);
  assert.equal((late.controller.signal.reason as MeshError).code, "deadline_exceeded");
  assert.equal(inflight.size, 1);
  clock.advance(1000);
  assert.deepEqual(beats, ["slow"]);
  assert.equal(slow.controller.signal.aborted, false);
  inflight.untrack(slow);
  inflight.stopTimer();
});
