/**
 * The llm_queue example's text models (`examples/llm_queue/model/`): the offline n-gram model
 * (built from the shipped corpus or a Markdown file, bounded, repeatable per seed, steered by the
 * prompt, stoppable, never hogging the event loop) and the OpenAI-compatible client against a
 * fake completions server started here on a free loopback port (pieces arrive as they are sent,
 * the request it gets, and each way it can fail).
 */

import assert from "node:assert/strict";
import { createModel, type TextModel } from "../../examples/llm_queue/model/model.ts";
import {
  ModelHttpError,
  ModelStreamError,
  ModelTimeoutError,
  ModelUnreachableError,
} from "../../examples/llm_queue/model/model_errors.ts";
import { markdownToProse } from "../../examples/llm_queue/model/markdown.ts";
import { sseData } from "../../examples/llm_queue/model/sse.ts";
import { within } from "../helpers/eventually.ts";
import { freePort } from "../helpers/free_port.ts";

const README = new URL("../../README.md", import.meta.url).pathname;

async function answer(
  model: TextModel,
  prompt: string,
  options: { maxTokens: number; seed?: number; temperature?: number },
): Promise<string[]> {
  return await Array.fromAsync(model.generate(prompt, options));
}

// ---------------------------------------------------------------------------------------------
// ngram

Deno.test("ngram builds from the shipped corpus in well under a second", async () => {
  const started = performance.now();
  const model = await createModel({ kind: "ngram" });
  const took = performance.now() - started;
  assert.equal(model.name, "ngram-3");
  assert.ok(took < 1000, `built in ${took.toFixed(0)} ms`);
  assert.equal((await createModel({ kind: "ngram", order: 2 })).name, "ngram-2");
});

Deno.test("ngram yields words with their leading space, never more than maxTokens", async () => {
  const model = await createModel({ kind: "ngram" });
  for (const maxTokens of [0, 1, 5, 30, 100]) {
    for (const seed of [1, 2, 3]) {
      const pieces = await answer(model, "What is a queue?", { maxTokens, seed });
      assert.ok(pieces.length <= maxTokens, `${pieces.length} > ${maxTokens}`);
      assert.ok(pieces.length >= Math.ceil(maxTokens / 2), `${pieces.length} of ${maxTokens}`);
      for (const piece of pieces) assert.match(piece, /^ \S+$/);
      if (pieces.length < maxTokens) assert.match(pieces.at(-1)!, /[.!?]$/);
    }
  }
});

Deno.test("ngram answers are repeatable per seed and differ between seeds", async () => {
  const model = await createModel({ kind: "ngram" });
  const prompt = "How do the workers share the load?";
  const bySeed = new Set<string>();
  for (const seed of [1, 2, 3, 4, 5]) {
    const first = (await answer(model, prompt, { maxTokens: 40, seed })).join("");
    const again = (await answer(model, prompt, { maxTokens: 40, seed })).join("");
    assert.equal(again, first);
    bySeed.add(first);
  }
  assert.ok(bySeed.size >= 3, `only ${bySeed.size} distinct answers for 5 seeds`);
});

Deno.test("ngram answers mention the prompt's telling word when the corpus knows it", async () => {
  const model = await createModel({ kind: "ngram" });
  for (const seed of [1, 2, 3, 4, 5]) {
    const queue = (await answer(model, "How do workers share a queue?", { maxTokens: 40, seed }))
      .join("");
    assert.match(queue, /\bqueue/i);
    const coffee = (await answer(model, "Do you like coffee?", { maxTokens: 40, seed })).join("");
    assert.match(coffee, /\bcoffee\b/i);
  }
  const unknown = await answer(model, "xyzzy plugh", { maxTokens: 20, seed: 1 });
  assert.ok(unknown.length >= 10);
});

Deno.test("ngram at temperature 0 gives the same answer whatever the seed", async () => {
  const model = await createModel({ kind: "ngram" });
  const one =
    (await answer(model, "Tell me about telemetry", { maxTokens: 30, temperature: 0, seed: 1 }))
      .join("");
  const two =
    (await answer(model, "Tell me about telemetry", { maxTokens: 30, temperature: 0, seed: 2 }))
      .join("");
  assert.equal(two, one);
  assert.match(one, /telemetry/i);
});

Deno.test("ngram stops at once when the signal aborts, rejecting with its reason", async () => {
  const model = await createModel({ kind: "ngram" });
  const controller = new AbortController();
  const reason = new Error("client went away");
  const got: string[] = [];
  await assert.rejects(
    async () => {
      for await (
        const piece of model.generate("queue", { maxTokens: 100, signal: controller.signal })
      ) {
        got.push(piece);
        if (got.length === 3) controller.abort(reason);
      }
    },
    (error) => error === reason,
  );
  assert.equal(got.length, 3);
  const aborted = AbortSignal.abort(reason);
  const iterator = model.generate("queue", { maxTokens: 10, signal: aborted })
    [Symbol.asyncIterator]();
  await assert.rejects(iterator.next(), (error) => error === reason);
});

Deno.test("ngram lets timers run during a long answer", async () => {
  const model = await createModel({ kind: "ngram" });
  let ticked = false;
  setTimeout(() => ticked = true, 0);
  let tokens = 0;
  let tokensAtTick: number | undefined;
  for await (const _ of model.generate("workers", { maxTokens: 2000, seed: 9 })) {
    tokens++;
    if (ticked && tokensAtTick === undefined) tokensAtTick = tokens;
  }
  assert.ok(tokens >= 1000, `${tokens} tokens`);
  assert.ok(tokensAtTick !== undefined && tokensAtTick <= 64, `timer ran at token ${tokensAtTick}`);
});

Deno.test("ngram learns from a Markdown file's prose, leaving code and tables out", async () => {
  const model = await createModel({ kind: "ngram", corpus: README, order: 2 });
  for (const seed of [1, 2, 3, 4]) {
    const text =
      (await answer(model, "How does the router pick an instance?", { maxTokens: 60, seed }))
        .join("");
    assert.ok(text.length > 0);
    assert.doesNotMatch(text, /[`|#*]|\]\(/);
  }
  const prose = markdownToProse(
    "# Title\n\nRun `deno task serve` [now](x.md), then **wait**.\n\n```sh\nls -l\n```\n\n" +
      "| a | b |\n|---|---|\n\n- one item\n- two item\n",
  );
  assert.equal(prose.trim().split(/\s+/).join(" "), "Run now, then wait. one item two item");
  // An inline code span may run over a line break (the README has some).
  const wrapped = markdownToProse("Put it `on the\nqueue()` and `read\nit\nback` here.\n");
  assert.equal(wrapped.trim().split(/\s+/).join(" "), "Put it and here.");
});

Deno.test("createModel names what is wrong with the settings", async () => {
  await assert.rejects(createModel({ kind: "ngram", order: 1 }), RangeError);
  await assert.rejects(createModel({ kind: "openai" }), TypeError);
  await assert.rejects(createModel({ kind: "openai", url: "ftp://127.0.0.1/" }), TypeError);
  await assert.rejects(
    createModel({ kind: "ngram", corpus: "/nonexistent/corpus.txt" }),
    /^Error: Cannot read the model's corpus "\/nonexistent\/corpus.txt": /,
  );
  await assert.rejects(createModel({ kind: "gpt" as "ngram" }), /Unknown model kind "gpt"/);
});

// ---------------------------------------------------------------------------------------------
// sse

Deno.test("sseData splits events across chunk boundaries and line endings", async () => {
  const chunks = ["data: a", "\r", "\n\r\n: comment\nevent: x\ndata: b\ndata:c\n", "\ndata: last"];
  const encoder = new TextEncoder();
  const body = ReadableStream.from(chunks.map((chunk) => encoder.encode(chunk)));
  assert.deepEqual(await Array.fromAsync(sseData(body)), ["a", "b\nc", "last"]);
});

// ---------------------------------------------------------------------------------------------
// openai

const encoder = new TextEncoder();

function event(data: unknown): Uint8Array {
  return encoder.encode(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
}

function piece(text: string, finish: string | null = null): Uint8Array {
  return event({ object: "text_completion", choices: [{ index: 0, text, finish_reason: finish }] });
}

/** What the fake server saw of one request. */
interface Seen {
  method: string;
  path: string;
  headers: Headers;
  body: Record<string, unknown>;
}

/** An SSE response whose chunks the test writes, and a promise of its cancellation. */
function sseStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const cancelled = Promise.withResolvers<void>();
  const body = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    cancel: () => cancelled.resolve(),
  });
  const response = new Response(body, { headers: { "content-type": "text/event-stream" } });
  return {
    response,
    send: (bytes: Uint8Array) => controller.enqueue(bytes),
    end: () => controller.close(),
    cancelled: cancelled.promise,
  };
}

/** A fake completions server on a free loopback port; `answer` makes each response. */
function fakeServer(answer: (seen: Seen) => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const entry = {
      method: request.method,
      path: new URL(request.url).pathname,
      headers: request.headers,
      body: await request.json(),
    };
    seen.push(entry);
    return await answer(entry);
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  return { url, seen, [Symbol.asyncDispose]: () => server.shutdown() };
}

Deno.test("openai streams each piece as the server sends it, with the request it should", async () => {
  const firstReceived = Promise.withResolvers<void>();
  let lastSent = false;
  await using server = fakeServer(() => {
    const stream = sseStream();
    (async () => {
      stream.send(piece("Hel"));
      await firstReceived.promise;
      stream.send(piece("lo,"));
      lastSent = true;
      stream.send(piece(" world", "length"));
      stream.send(event("[DONE]"));
      stream.end();
    })();
    return stream.response;
  });
  const model = await createModel({
    kind: "openai",
    url: `${server.url}/v1/`,
    timeoutMs: 10_000,
    model: "tiny",
    apiKey: "sk-test",
  });
  assert.equal(model.name, `openai:tiny at ${server.url}`);
  const pieces: string[] = [];
  await within(
    (async () => {
      for await (
        const text of model.generate("Say hi", { maxTokens: 3, temperature: 0.5, seed: 4 })
      ) {
        if (pieces.length === 0) {
          assert.equal(lastSent, false, "the first piece came only after the last was sent");
          firstReceived.resolve();
        }
        pieces.push(text);
      }
    })(),
    "the streamed answer",
  );
  assert.deepEqual(pieces, ["Hel", "lo,", " world"]);
  assert.equal(server.seen.length, 1);
  const [request] = server.seen;
  assert.equal(request!.method, "POST");
  assert.equal(request!.path, "/v1/completions");
  assert.equal(request!.headers.get("authorization"), "Bearer sk-test");
  assert.match(request!.headers.get("content-type") ?? "", /^application\/json/);
  assert.deepEqual(request!.body, {
    model: "tiny",
    prompt: "Say hi",
    max_tokens: 3,
    temperature: 0.5,
    seed: 4,
    stream: true,
  });
});

Deno.test("openai sends no Authorization header without a key and takes a bare URL", async () => {
  await using server = fakeServer(() => {
    const stream = sseStream();
    stream.send(piece("ok", "stop"));
    stream.send(event("[DONE]"));
    stream.end();
    return stream.response;
  });
  const model = await createModel({ kind: "openai", url: server.url });
  assert.deepEqual(await answer(model, "hi", { maxTokens: 1 }), ["ok"]);
  assert.equal(server.seen[0]!.path, "/v1/completions");
  assert.equal(server.seen[0]!.headers.get("authorization"), null);
  assert.deepEqual(server.seen[0]!.body, { prompt: "hi", max_tokens: 1, stream: true });
});

Deno.test("openai reports an HTTP error with the server's own message", async () => {
  await using server = fakeServer(() =>
    Response.json({ error: { message: "model exploded", type: "server_error" } }, { status: 500 })
  );
  const model = await createModel({ kind: "openai", url: server.url });
  await assert.rejects(answer(model, "hi", { maxTokens: 5 }), (error) => {
    assert.ok(error instanceof ModelHttpError);
    assert.equal(error.status, 500);
    assert.equal(
      error.message,
      `The model server at ${server.url} answered 500 Internal Server Error: model exploded`,
    );
    return true;
  });
});

Deno.test("openai says clearly when the server cannot be reached", async () => {
  const url = `http://127.0.0.1:${await freePort()}`;
  const model = await createModel({ kind: "openai", url });
  await assert.rejects(answer(model, "hi", { maxTokens: 5 }), (error) => {
    assert.ok(error instanceof ModelUnreachableError);
    assert.ok(error.message.startsWith(`Cannot reach the model server at ${url}: `), error.message);
    assert.doesNotMatch(error.message, /\n/);
    return true;
  });
});

Deno.test("openai stops mid-stream on abort, rejecting with the reason and closing the stream", async () => {
  let cancelled!: Promise<void>;
  await using server = fakeServer(() => {
    const stream = sseStream();
    cancelled = stream.cancelled;
    stream.send(piece("first"));
    return stream.response;
  });
  const model = await createModel({ kind: "openai", url: server.url });
  const controller = new AbortController();
  const reason = new Error("client went away");
  const got: string[] = [];
  await within(
    assert.rejects(
      async () => {
        for await (
          const text of model.generate("hi", { maxTokens: 5, signal: controller.signal })
        ) {
          got.push(text);
          controller.abort(reason);
        }
      },
      (error) => error === reason,
    ),
    "the aborted generation",
  );
  assert.deepEqual(got, ["first"]);
  await within(cancelled, "the server's stream to be cancelled");
});

Deno.test("openai reports a malformed stream, a stream cut short and a silent server", async () => {
  let cancelled: Promise<void> | undefined;
  await using server = fakeServer(({ body }) => {
    const stream = sseStream();
    if (body.prompt === "garbled") {
      stream.send(event("{not json"));
      stream.end();
    } else if (body.prompt === "cut") {
      stream.send(piece("half"));
      stream.end();
    } else {
      cancelled = stream.cancelled;
      stream.send(piece("then nothing"));
    }
    return stream.response;
  });
  const model = await createModel({ kind: "openai", url: server.url, timeoutMs: 300 });
  await assert.rejects(
    answer(model, "garbled", { maxTokens: 5 }),
    (error) =>
      error instanceof ModelStreamError &&
      /^Malformed stream from the model server at /.test(error.message),
  );
  await assert.rejects(
    answer(model, "cut", { maxTokens: 5 }),
    (error) =>
      error instanceof ModelStreamError && /ended the stream before \[DONE\]/.test(error.message),
  );
  await assert.rejects(
    within(answer(model, "silent", { maxTokens: 5 }), "the timeout"),
    (error) =>
      error instanceof ModelTimeoutError &&
      error.message === `The model server at ${server.url} sent nothing for 300 ms`,
  );
  await within(cancelled!, "the silent stream to be cancelled");
});
