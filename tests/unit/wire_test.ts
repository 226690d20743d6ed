import assert from "node:assert/strict";
import { decodeFrame, decodeRequest, encodeFrame, encodeRequest } from "../../protocol/wire.ts";

const body = new TextEncoder().encode('{"prompt":"hi"}');

Deno.test("a request envelope round-trips: id, deadline, attempt, resumeFrom, traceparent, body", () => {
  const data = encodeRequest({
    requestId: "req-ü-1",
    deadline: 1_800_000_000_123,
    attempt: 2,
    resumeFrom: 5,
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  }, body);
  const decoded = decodeRequest({ subject: "s", reply: "_INBOX.x.1", data });
  assert.ok(typeof decoded !== "string", String(decoded));
  assert.equal(decoded.requestId, "req-ü-1");
  assert.equal(decoded.deadline, 1_800_000_000_123);
  assert.equal(decoded.attempt, 2);
  assert.equal(decoded.resumeFrom, 5);
  assert.equal(decoded.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  assert.equal(decoded.reply, "_INBOX.x.1");
  assert.deepEqual([...decoded.data], [...body]);
});

Deno.test("a request envelope is refused, with a reason, when it is not one", () => {
  const good = encodeRequest({ requestId: "r", deadline: 1, attempt: 1 }, body);
  const reason = (data: Uint8Array) => decodeRequest({ subject: "s", reply: "_INBOX.x", data });
  assert.equal(decodeRequest({ subject: "s", data: good }), "no reply subject");
  assert.equal(reason(new TextEncoder().encode("garbage")), "no request envelope");
  assert.equal(reason(good.subarray(0, 21)), "no request envelope");
  const versioned = good.slice();
  versioned[2] = 9;
  assert.equal(reason(versioned), "request envelope version 9, expected 1");
  assert.equal(
    reason(encodeRequest({ requestId: "r", deadline: 1, attempt: 0 }, body)),
    "bad attempt",
  );
  assert.equal(
    reason(encodeRequest({ requestId: "", deadline: 1, attempt: 1 }, body)),
    "bad request id",
  );
  assert.throws(
    () => encodeRequest({ requestId: "x".repeat(257), deadline: 1, attempt: 1 }, body),
    RangeError,
  );
});

Deno.test("a reply frame round-trips; the instance is named only when given", () => {
  const first = decodeFrame({ subject: "s", data: encodeFrame(0, "final", "abc123", body) });
  assert.deepEqual({ ...first!, data: [...first!.data] }, {
    seq: 0,
    kind: "final",
    instance: "abc123",
    data: [...body],
  });
  const later = decodeFrame({ subject: "s", data: encodeFrame(7, "heartbeat", undefined) });
  assert.deepEqual({ ...later!, data: [...later!.data] }, {
    seq: 7,
    kind: "heartbeat",
    instance: undefined,
    data: [],
  });
  assert.equal(decodeFrame({ subject: "s", data: body }), undefined);
});
