/**
 * The streamed `/generate` answer (SSE, NDJSON, lines): the status goes out with the first
 * chunk, each later chunk is written as soon as it is produced, and a failure after the first
 * chunk becomes a final error line or SSE `error` event on the 200 response. A client that
 * cancels the body stops the run.
 *
 * @module
 */

import { toPublicError } from "../../http/http_errors.ts";
import { type AnswerContext, jsonText, type ResponseMode, streamFormat } from "./response_modes.ts";

/**
 * Writes the answer in `mode` from the first step on. A run that is already over after its
 * first chunk is answered as a plain body with a length (in `lines` mode a non-string chunk is
 * then `application/json`, without a newline); anything slower streams.
 */
export async function answerStreamed(
  mode: Exclude<ResponseMode, "json">,
  first: IteratorResult<unknown>,
  ctx: AnswerContext,
): Promise<Response> {
  const { run, record } = ctx;
  const format = streamFormat(mode, first.value);
  const headers = {
    "x-request-id": ctx.requestId,
    "content-type": format.contentType,
    // no-transform: proxies must not re-encode (and so buffer) the stream.
    "cache-control": "no-cache, no-transform",
    "x-content-type-options": "nosniff",
  };
  if (first.done) {
    run.close(false);
    record.outcome = "ok";
    return new Response(null, { headers });
  }

  // The common one-chunk answer, complete at once, goes out as a plain body with a length:
  // no stream to pump, one write. Anything slower streams as below, starting from this step.
  const soon = await run.nextIfReady();
  if (soon?.ok && soon.value.done) {
    run.close(false);
    record.outcome = "ok";
    try {
      if (mode === "lines" && typeof first.value !== "string") {
        // One value, whole: plain JSON with a length, as `application/json` would get it.
        return new Response(jsonText(first.value), {
          headers: { "x-request-id": ctx.requestId, "content-type": "application/json" },
        });
      }
      return new Response(format.encode(first.value), { headers });
    } catch (error) {
      return ctx.fail(error);
    }
  }

  let firstText: string;
  try {
    firstText = format.encode(first.value);
  } catch (error) {
    run.close(true);
    return ctx.fail(error);
  }
  let pending: Promise<IteratorResult<unknown>> | undefined = soon
    ? (soon.ok ? Promise.resolve(soon.value) : Promise.reject(soon.error))
    : run.next();
  pending.catch(() => {});
  run.watchClient();
  const bytes = new TextEncoder();
  let ended = false;
  const report = record.defer();
  const end = (outcome: string) => {
    if (ended) return;
    ended = true;
    record.outcome = outcome;
    report(200);
  };
  const endWithError = (
    controller: ReadableStreamDefaultController<Uint8Array>,
    error: unknown,
    stop: boolean,
  ) => {
    run.close(stop);
    if (ctx.clientGone()) {
      end("cancelled");
    } else {
      const mapped = toPublicError(error, { logger: ctx.logger, fields: ctx.fields() });
      controller.enqueue(bytes.encode(format.encodeError(mapped.body)));
      end(mapped.body.code);
    }
    controller.close();
  };

  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes.encode(firstText));
    },
    async pull(controller) {
      let step: IteratorResult<unknown>;
      try {
        step = await (pending ?? run.next());
        pending = undefined;
      } catch (error) {
        pending = undefined;
        if (!ended) endWithError(controller, error, run.signal.aborted);
        return;
      }
      if (ended) return;
      if (step.done) {
        run.close(false);
        end("ok");
        controller.close();
        return;
      }
      let chunk: string;
      try {
        chunk = format.encode(step.value);
      } catch (error) {
        endWithError(controller, error, true);
        return;
      }
      controller.enqueue(bytes.encode(chunk));
    },
    cancel() {
      run.close(true);
      end("cancelled");
    },
  }, { highWaterMark: 0 });
  return new Response(stream, { headers });
}
