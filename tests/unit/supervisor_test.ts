import assert from "node:assert/strict";
import { backoffDelay } from "../../utils/backoff.ts";
import { ManualClock } from "../../utils/clock.ts";
import {
  type ChildExit,
  type ChildSpec,
  EscalationError,
  type RestartType,
  Supervisor,
  type SupervisorOptions,
} from "../../actors/supervisor.ts";
import { untilMicrotasks } from "../helpers/eventually.ts";

/** Children that record what happens to them and can be made to end. */
function harness() {
  const events: string[] = [];
  const live = new Map<string, (exit: ChildExit) => void>();
  const failStart = new Set<string>();
  const child = (id: string, restart: RestartType = "permanent"): ChildSpec => ({
    id,
    restart,
    start() {
      if (failStart.has(id)) {
        events.push(`start-failed:${id}`);
        return Promise.reject(new Error(`${id} cannot start`));
      }
      events.push(`start:${id}`);
      let end!: (exit: ChildExit) => void;
      const exited = new Promise<ChildExit>((resolve) => (end = resolve));
      live.set(id, end);
      return Promise.resolve({
        exited,
        stop: () => {
          events.push(`stop:${id}`);
          live.delete(id);
          return Promise.resolve();
        },
      });
    },
  });
  return {
    events,
    failStart,
    child,
    crash(id: string) {
      const end = live.get(id)!;
      live.delete(id);
      end({ normal: false, error: new Error(`${id} crashed`) });
    },
    finish(id: string) {
      const end = live.get(id)!;
      live.delete(id);
      end({ normal: true });
    },
  };
}

const noJitter: SupervisorOptions["backoff"] = {
  initialMs: 100,
  factor: 2,
  maxMs: 1000,
  jitter: 0,
};

Deno.test("children start in order and stop in reverse order", async () => {
  const h = harness();
  const sup = new Supervisor("root", [h.child("a"), h.child("b"), h.child("c")]);
  await sup.start();
  await sup.stop();
  assert.deepEqual(h.events, ["start:a", "start:b", "start:c", "stop:c", "stop:b", "stop:a"]);
  assert.deepEqual(await sup.exited, { normal: true });
});

Deno.test("one_for_one restarts only the child that failed, after the backoff", async () => {
  const h = harness();
  const clock = new ManualClock();
  const sup = new Supervisor("root", [h.child("a"), h.child("b")], { clock, backoff: noJitter });
  await sup.start();
  h.events.length = 0;
  h.crash("a");
  await untilMicrotasks(() => clock.pending === 1, "backoff timer set");
  clock.advance(99);
  assert.deepEqual(h.events, []);
  clock.advance(1);
  await untilMicrotasks(() => h.events.length === 1, "restart");
  assert.deepEqual(h.events, ["start:a"]);
  assert.deepEqual(sup.stats.restarts, { a: 1 });
  await sup.stop();
});

Deno.test("one_for_all stops the others in reverse order, then restarts all in order", async () => {
  const h = harness();
  const clock = new ManualClock();
  const sup = new Supervisor("root", [h.child("a"), h.child("b"), h.child("c")], {
    clock,
    strategy: "one_for_all",
    backoff: noJitter,
  });
  await sup.start();
  h.events.length = 0;
  h.crash("b");
  await untilMicrotasks(() => clock.pending === 1, "backoff timer set");
  clock.advance(100);
  await untilMicrotasks(() => h.events.length === 5, "restarts");
  assert.deepEqual(h.events, ["stop:c", "stop:a", "start:a", "start:b", "start:c"]);
  await sup.stop();
});

Deno.test("rest_for_one restarts the failed child and those started after it", async () => {
  const h = harness();
  const clock = new ManualClock();
  const sup = new Supervisor("root", [h.child("a"), h.child("b"), h.child("c")], {
    clock,
    strategy: "rest_for_one",
    backoff: noJitter,
  });
  await sup.start();
  h.events.length = 0;
  h.crash("b");
  await untilMicrotasks(() => clock.pending === 1, "backoff timer set");
  clock.advance(100);
  await untilMicrotasks(() => h.events.length === 3, "restarts");
  assert.deepEqual(h.events, ["stop:c", "start:b", "start:c"]);
  await sup.stop();
});

Deno.test("transient children are restarted only after a failure; temporary ones never", async () => {
  const h = harness();
  const clock = new ManualClock();
  const sup = new Supervisor("root", [h.child("t", "transient"), h.child("x", "temporary")], {
    clock,
    backoff: noJitter,
  });
  await sup.start();
  h.events.length = 0;
  h.finish("t");
  h.crash("x");
  await untilMicrotasks(() => sup.running.length === 0, "both gone");
  assert.equal(clock.pending, 0);
  assert.deepEqual(sup.stats.restarts, {});
  await sup.stop();
});

Deno.test("too many restarts in the period: every child stops in reverse and the supervisor escalates", async () => {
  const h = harness();
  const clock = new ManualClock();
  const sup = new Supervisor("root", [h.child("a"), h.child("b")], {
    clock,
    intensity: 2,
    periodMs: 10_000,
    backoff: noJitter,
  });
  await sup.start();
  for (let i = 1; i <= 2; i++) {
    h.crash("b");
    await untilMicrotasks(() => clock.pending === 1, `backoff ${i}`);
    clock.advance(1000);
    await untilMicrotasks(() => sup.running.includes("b"), `restart ${i}`);
  }
  h.events.length = 0;
  h.crash("b");
  const exit = await sup.exited;
  assert.equal(exit.normal, false);
  assert.ok(!exit.normal && exit.error instanceof EscalationError);
  assert.match(
    String((exit as { error: Error }).error.message),
    /more than 2 restarts in 10000 ms/,
  );
  assert.deepEqual(h.events, ["stop:a"]);
  assert.equal(sup.stats.escalations, 1);
});

Deno.test("restarts spread over more than the period do not escalate", async () => {
  const h = harness();
  const clock = new ManualClock();
  const sup = new Supervisor("root", [h.child("a")], {
    clock,
    intensity: 1,
    periodMs: 1000,
    backoff: noJitter,
  });
  await sup.start();
  for (let i = 0; i < 5; i++) {
    clock.advance(2000);
    h.crash("a");
    await untilMicrotasks(() => clock.pending === 1, "backoff");
    clock.advance(100);
    await untilMicrotasks(() => sup.running.includes("a"), "restart");
  }
  assert.deepEqual(sup.stats, { restarts: { a: 5 }, escalations: 0 });
  await sup.stop();
});

Deno.test("a child that fails its first start fails start(), stopping the others in reverse", async () => {
  const h = harness();
  h.failStart.add("c");
  const sup = new Supervisor("root", [h.child("a"), h.child("b"), h.child("c")]);
  await assert.rejects(sup.start(), /c cannot start/);
  assert.deepEqual(h.events, ["start:a", "start:b", "start-failed:c", "stop:b", "stop:a"]);
  assert.equal((await sup.exited).normal, false);
});

Deno.test("a child that cannot restart is retried with growing backoff, then escalates", async () => {
  const h = harness();
  const clock = new ManualClock();
  const sup = new Supervisor("root", [h.child("a")], {
    clock,
    intensity: 3,
    periodMs: 60_000,
    backoff: noJitter,
  });
  await sup.start();
  h.failStart.add("a");
  h.crash("a");
  const delays: number[] = [];
  for (let i = 0; i < 3; i++) {
    await untilMicrotasks(() => clock.pending === 1, `backoff ${i}`);
    let waited = 0;
    while (clock.pending === 1) {
      clock.advance(10);
      waited += 10;
    }
    delays.push(waited);
  }
  assert.deepEqual(delays, [100, 200, 400]);
  const exit = await sup.exited;
  assert.ok(!exit.normal && exit.error instanceof EscalationError);
  assert.equal(h.events.filter((e) => e === "start-failed:a").length, 3);
});

Deno.test("supervisors nest: a child supervisor that gives up is restarted by its parent", async () => {
  const h = harness();
  const clock = new ManualClock();
  const inner = () =>
    new Supervisor("inner", [h.child("w")], { clock, intensity: 0, backoff: noJitter });
  let current = inner();
  const parent = new Supervisor("parent", [{
    id: "inner",
    start: async () => {
      current = inner();
      await current.start();
      return { exited: current.exited, stop: () => current.stop() };
    },
  }], { clock, backoff: noJitter });
  await parent.start();
  h.crash("w"); // the inner supervisor allows no restart: it escalates to the parent
  await untilMicrotasks(() => clock.pending === 1, "parent backoff");
  clock.advance(100);
  await untilMicrotasks(
    () => h.events.filter((e) => e === "start:w").length === 2,
    "restarted tree",
  );
  assert.deepEqual(parent.stats.restarts, { inner: 1 });
  await parent.stop();
});

Deno.test("backoffDelay() grows exponentially, is capped, and jitters within bounds", () => {
  const options = { initialMs: 100, factor: 2, maxMs: 1000, jitter: 0.2 };
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffDelay(n, options, () => 0.5)), [
    100,
    200,
    400,
    800,
    1000,
  ]);
  assert.equal(backoffDelay(1, options, () => 0), 80);
  assert.equal(backoffDelay(1, options, () => 1), 120);
});

Deno.test("stop() during a restart's backoff ends the wait at once and starts nothing", async () => {
  const h = harness();
  const clock = new ManualClock();
  const sup = new Supervisor("root", [h.child("a")], { clock, backoff: { initialMs: 60_000 } });
  await sup.start();
  h.crash("a");
  await untilMicrotasks(() => clock.pending === 1, "backoff timer set");
  h.events.length = 0;
  await sup.stop();
  assert.equal(clock.pending, 0);
  assert.deepEqual(h.events, []);
  assert.deepEqual(await sup.exited, { normal: true });
});
