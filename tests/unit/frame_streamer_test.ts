import assert from "node:assert/strict";
import { streamFrames } from "../../actors/frame_streamer.ts";

/** The frames `chunks` become, as `kind` or `kind body`. */
async function framesOf(chunks: AsyncIterable<unknown>): Promise<string[]> {
  const frames: string[] = [];
  await streamFrames(chunks[Symbol.asyncIterator](), (kind, data) => {
    const body = data && data.length > 0 ? ` ${new TextDecoder().decode(data)}` : "";
    frames.push(`${kind}${body}`);
  });
  return frames;
}

const later = () => new Promise((resolve) => setTimeout(resolve, 5));

Deno.test("frames: one chunk ready at once is one final frame", async () => {
  assert.deepEqual(
    await framesOf((async function* () {
      yield { a: 1 };
    })()),
    ['final {"a":1}'],
  );
});

Deno.test("frames: chunks ready together share a batch_end frame; none at all is one end", async () => {
  assert.deepEqual(
    await framesOf((async function* () {
      yield "a";
      yield "b";
      yield "c";
    })()),
    ['batch_end ["a","b","c"]'],
  );
  assert.deepEqual(await framesOf((async function* () {})()), ["end"]);
});

Deno.test("frames: a slow first chunk is acknowledged first; a slow next one is not waited for", async () => {
  assert.deepEqual(
    await framesOf((async function* () {
      await later();
      yield "a";
      await later();
      yield "b";
    })()),
    ["ack", 'data "a"', 'final "b"'],
  );
});

Deno.test("frames: a chunk JSON cannot put in an array goes alone", async () => {
  assert.deepEqual(
    await framesOf((async function* () {
      yield undefined;
      yield "b";
    })()),
    ["data", 'final "b"'],
  );
});

Deno.test("frames: a handler's error, or a chunk that is no JSON, rejects the stream", async () => {
  const failing = (async function* () {
    yield "a";
    await later();
    throw new Error("boom");
  })();
  const sent: string[] = [];
  await assert.rejects(
    streamFrames(failing, (kind) => void sent.push(kind)),
    /boom/,
  );
  assert.deepEqual(sent, ["data"]);
  await assert.rejects(
    framesOf((async function* () {
      yield 1n;
    })()),
    TypeError,
  );
});
