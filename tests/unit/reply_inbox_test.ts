import assert from "node:assert/strict";
import { MemoryBus } from "../../planes/memory/memory_bus.ts";
import { ReplyInbox } from "../../router/reply_inbox.ts";
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
