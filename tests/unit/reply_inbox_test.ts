import assert from "node:assert/strict";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { ReplyInbox } from "../../router/reply_inbox.ts";
import { RemoteAnswer } from "../../router/remote_answer.ts";
import { encodeFrame, encodeJson } from "../../protocol/wire.ts";

Deno.test("reply inbox: a late frame for a finished call never reaches the call that reuses its slot", async () => {
  const bus = new MemoryBus();
  const inbox = new ReplyInbox(bus);
  try {
    const first = inbox.open(Date.now() + 10_000);
    const firstSubject = first.subject;
    first.close();
    const second = inbox.open(Date.now() + 10_000);
    assert.equal(second.slot, first.slot); // the slot is reused...
    assert.notEqual(second.subject, firstSubject); // ...under a new token
    bus.publish(firstSubject, encodeFrame(0, "final", "w-old", encodeJson("stale")));
    bus.publish(second.subject, encodeFrame(0, "final", "w-new", encodeJson("fresh")));
    await bus.flush();
    const frame = await second.next();
    assert.equal(frame.instance, "w-new");
    assert.equal(new TextDecoder().decode(frame.data), '"fresh"');
    assert.equal(inbox.size, 1);
    second.close();
    assert.equal(inbox.size, 0);
  } finally {
    inbox.close();
    await bus.close();
  }
});

Deno.test("remote answer: a send that throws ends the answer with a rejection, not a throw", async () => {
  const bus = new MemoryBus();
  const inbox = new ReplyInbox(bus);
  try {
    const answer = new RemoteAnswer({
      bus,
      address: { namespace: "t", component: "C", endpoint: "generate" },
      open: () => inbox.open(Date.now() + 10_000),
      send: () => {
        throw new Error("cannot publish");
      },
      call: { requestId: "r1", deadline: Date.now() + 10_000, attempt: 1 },
      traceparent: undefined,
      body: new Uint8Array(),
    });
    let next: Promise<IteratorResult<unknown>> | undefined;
    assert.doesNotThrow(() => (next = answer.next()));
    await assert.rejects(next!, /cannot publish/);
    assert.equal(inbox.size, 0); // its reply stream is closed
    assert.deepEqual(await answer.next(), { done: true, value: undefined });
  } finally {
    inbox.close();
    await bus.close();
  }
});
