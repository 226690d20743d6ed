/**
 * Seed 004's front end behind the gateway (`POST /generate`): it puts the prompt, with a fresh
 * prompt id, on the shared `prompts` queue and answers with what the response workers hand back:
 * `{id, request_id, prompt, text, worker, host, model, tokens, latency_ms, ...}`. With
 * `"stream": true` it streams `{id, delta}` chunks as the inference worker generates, then the
 * whole response.
 *
 * ```sh
 * curl -X POST http://localhost:8000/generate -H 'content-type: application/json' \
 *   -d '{"prompt": "How do workers share the queue?"}'
 * ```
 *
 * @module
 */

import { component } from "../../actors/component.ts";
import { defineSchema, number } from "../../actors/config_schema.ts";
import { MeshError } from "../../protocol/errors.ts";
import { type Prompt, PROMPTS, type Response } from "./messages.ts";

/** The chat front's config section. */
export const CHAT_CONFIG = defineSchema({
  answer_timeout_s: number({
    default: 120,
    min: 0.001,
    doc: "How long a prompt may wait in the queue and be generated before the asker gets 504",
  }),
});

/** What `POST /generate` takes. */
export interface ChatRequest {
  prompt: string;
  request_id?: string;
  max_tokens?: number;
  stream?: boolean;
}

/** Checks the body of `POST /generate`; a `bad_request` names the field. */
export function chatRequest(request: unknown): ChatRequest {
  if (typeof request !== "object" || request === null || Array.isArray(request)) {
    throw new MeshError("bad_request", 'The body must be a JSON object with a "prompt"');
  }
  const { prompt, request_id, max_tokens, stream } = request as Record<string, unknown>;
  if (typeof prompt !== "string" || prompt.trim() === "") {
    throw new MeshError("bad_request", 'Field "prompt" must be a non-empty string');
  }
  if (request_id !== undefined && typeof request_id !== "string") {
    throw new MeshError("bad_request", 'Field "request_id" must be a string');
  }
  if (
    max_tokens !== undefined &&
    (typeof max_tokens !== "number" || !Number.isInteger(max_tokens) || max_tokens < 1)
  ) {
    throw new MeshError("bad_request", 'Field "max_tokens" must be a positive integer');
  }
  if (stream !== undefined && typeof stream !== "boolean") {
    throw new MeshError("bad_request", 'Field "stream" must be true or false');
  }
  return { prompt, request_id, max_tokens, stream };
}

/** The chat front component. */
export const chat = component({
  name: "chat",
  http: true,
  config: CHAT_CONFIG,
  start(ctx) {
    const prompts = ctx.queue<Prompt>(PROMPTS);
    const timeoutMs = Math.round((ctx.config.answer_timeout_s as number) * 1000);
    return {
      async *generate(body: unknown, rctx) {
        const request = chatRequest(body);
        const id = await prompts.put({
          prompt: request.prompt,
          max_tokens: request.max_tokens,
          put_at: new Date().toISOString(),
        });
        const options = { timeoutMs, signal: rctx.signal };
        for await (const chunk of prompts.chunks(id, options)) {
          if (request.stream) yield chunk;
        }
        const response = await prompts.answer<Response>(id, options);
        if (response.error) {
          throw new MeshError("internal", `The model could not answer: ${response.error}`);
        }
        yield { ...response, request_id: request.request_id ?? rctx.requestId };
      },
    };
  },
});
