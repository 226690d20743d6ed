/**
 * Seed 004's inference workers: each greedily takes prompts from the shared `prompts` queue (at
 * most `max_inflight` at once), generates an answer with the model, streams the text to whoever
 * asked as it comes, and puts the whole response, under the prompt's id, on the shared
 * `responses` queue. Only then is the prompt done: a worker lost mid-way leaves it in the queue
 * for another worker, and a response put twice (the same id) is stored once.
 *
 * When the end is signalled (`prompts.end()`) and the prompt queue is empty, the worker stops
 * taking and finishes (`ctx.done()`); with `ServiceArgs.restart: transient` it is not restarted,
 * and a worker process whose instances have all finished exits 0.
 *
 * @module
 */

import { component } from "../../actors/component.ts";
import { defineSchema, integer, number, string } from "../../actors/config_schema.ts";
import type { QueueItem, SharedQueue } from "../../actors/shared_queue.ts";
import { abortableDelay } from "../../utils/abortable_delay.ts";
import { type Prompt, PROMPTS, type Response, RESPONSES } from "./messages.ts";
import { createModel, type TextModel } from "./model/model.ts";

/** The inference worker's config section. */
export const INFERENCE_CONFIG = defineSchema({
  model: string({
    default: "ngram",
    enum: ["ngram", "openai"],
    doc: "ngram: the built-in offline text model; openai: an OpenAI-compatible server at model_url",
  }),
  model_url: string({
    default: "",
    doc: "The OpenAI-compatible server (llama.cpp, vLLM, Ollama), e.g. http://127.0.0.1:8080",
  }),
  model_name: string({ default: "", doc: "The model the server should use" }),
  api_key: string({ default: "", doc: "Bearer token for the model server, if it needs one" }),
  max_tokens: integer({ default: 40, min: 1, max: 4096, doc: "Tokens per answer at most" }),
  temperature: number({ default: 0.8, min: 0, max: 2, doc: "0 picks the likeliest token" }),
  max_inflight: integer({ default: 1, min: 1, max: 64, doc: "Prompts one worker holds at once" }),
  token_delay_ms: number({
    default: 0,
    min: 0,
    max: 10_000,
    doc: "Simulated model time per token (a GPU model's pace), cancellable; 0: none",
  }),
  stream_every_ms: integer({
    default: 50,
    min: 0,
    doc: "Streamed text is sent to the asker at most this often (0: every token)",
  }),
});

type InferenceConfig = {
  model: string;
  model_url: string;
  model_name: string;
  api_key: string;
  max_tokens: number;
  temperature: number;
  max_inflight: number;
  token_delay_ms: number;
  stream_every_ms: number;
};

/** Generates one answer, streaming it to the asker; resolves with the response to put. */
async function answer(
  item: QueueItem<Prompt>,
  model: TextModel,
  config: InferenceConfig,
  where: { worker: string; host: string; tokens(n: number): void; signal: AbortSignal },
): Promise<Response> {
  const started = Date.now();
  const base = {
    id: item.id,
    prompt: String(item.value?.prompt ?? ""),
    worker: where.worker,
    host: where.host,
    model: model.name,
    delivery: item.delivery,
  };
  let text = "";
  let pending = "";
  let tokens = 0;
  let sentAt = started;
  try {
    if (!base.prompt.trim()) throw new Error("The prompt is empty");
    const maxTokens = Math.min(item.value.max_tokens ?? config.max_tokens, config.max_tokens);
    for await (
      const piece of model.generate(base.prompt, {
        maxTokens,
        temperature: config.temperature,
        signal: where.signal,
      })
    ) {
      if (config.token_delay_ms > 0) await abortableDelay(config.token_delay_ms, where.signal);
      text += piece;
      pending += piece;
      tokens++;
      if (Date.now() - sentAt >= config.stream_every_ms) {
        item.send({ id: item.id, delta: pending });
        pending = "";
        sentAt = Date.now();
      }
    }
    if (pending) item.send({ id: item.id, delta: pending });
    where.tokens(tokens);
    return { ...base, text: text.trim(), ...timings(item, started, tokens) };
  } catch (error) {
    if (where.signal.aborted) throw error;
    const message = error instanceof Error ? error.message : String(error);
    return { ...base, error: message, ...timings(item, started, tokens) };
  }
}

function timings(item: QueueItem<Prompt>, started: number, tokens: number) {
  const now = Date.now();
  const putAt = Date.parse(item.value?.put_at ?? "");
  return {
    tokens,
    generation_ms: now - started,
    latency_ms: Number.isFinite(putAt) ? now - putAt : now - started,
  };
}

/** Takes prompts until the end; each answered, its response put, then done. */
async function serveQueue(
  prompts: SharedQueue<Prompt>,
  responses: SharedQueue<Response>,
  model: TextModel,
  config: InferenceConfig,
  where: { worker: string; host: string; tokens(n: number): void; signal: AbortSignal },
  log: { warn(message: string, fields?: Record<string, unknown>): void },
): Promise<void> {
  const working = new Set<Promise<void>>();
  for await (
    const item of prompts.take({ maxInflight: config.max_inflight, signal: where.signal })
  ) {
    const job = (async () => {
      const beat = setInterval(() => item.working(), 3_000);
      try {
        const response = await answer(item, model, config, where);
        await responses.put(response, { id: item.id, replyTo: item.replyTo ?? null });
        item.done();
      } catch (error) {
        if (!where.signal.aborted) log.warn("Could not answer a prompt; it goes back", { error });
        item.retry(1000);
      } finally {
        clearInterval(beat);
      }
    })();
    working.add(job);
    job.finally(() => working.delete(job));
  }
  await Promise.all(working);
}

/** The inference worker component. */
export const inference = component({
  name: "inference",
  config: INFERENCE_CONFIG,
  async start(ctx) {
    const config = ctx.config as InferenceConfig;
    const model = await createModel({
      kind: config.model as "ngram" | "openai",
      url: config.model_url || undefined,
      model: config.model_name || undefined,
      apiKey: config.api_key || undefined,
    });
    const tokens = ctx.counter("tokens", "Tokens generated");
    const prompts = ctx.queue<Prompt>(PROMPTS);
    const responses = ctx.queue<Response>(RESPONSES);
    const where = {
      worker: ctx.instanceId,
      host: ctx.hostname,
      tokens: (n: number) => tokens.add(n),
      signal: ctx.signal,
    };
    let served = 0;
    const counting = { ...where, tokens: (n: number) => (served++, where.tokens(n)) };
    serveQueue(prompts, responses, model, config, counting, ctx.log).then(
      () => {
        if (ctx.signal.aborted) return;
        ctx.log.info("The prompt queue has ended and is empty; finishing", { served });
        ctx.done();
      },
      (error) => ctx.fail(error),
    ).finally(() => model.close?.());
    return {
      generate: () => ({ worker: ctx.instanceId, host: ctx.hostname, model: model.name, served }),
    };
  },
});
