/**
 * The text model of the llm_queue example, chosen by settings: `ngram` (the default, offline,
 * learned at start from the shipped corpus or a file you name) or `openai` (any
 * OpenAI-compatible completions server by URL).
 *
 * @example
 * ```ts ignore
 * import { createModel } from "./model.ts";
 * const model = await createModel({ kind: "ngram" });
 * for await (const piece of model.generate("How do workers share a queue?", { maxTokens: 40 })) {
 *   console.log(piece);
 * }
 * ```
 *
 * @module
 */

import { loadCorpus } from "./corpus.ts";
import { NgramModel } from "./ngram.ts";
import { OpenAiModel } from "./openai.ts";
import type { TextModel } from "./text_model.ts";

export type { GenerateOptions, TextModel } from "./text_model.ts";
export * from "./model_errors.ts";

/** Which model to use and how; fields that do not apply to the kind are ignored. */
export interface ModelSettings {
  /** `ngram`: offline n-gram chain; `openai`: an OpenAI-compatible completions server. */
  kind: "ngram" | "openai";
  /** openai: the server's base URL, e.g. `http://127.0.0.1:8080` (a trailing `/v1` is fine). */
  url?: string;
  /** openai: the `model` field sent with each request. */
  model?: string;
  /** openai: sent as a bearer token when given. */
  apiKey?: string;
  /** openai: the longest silence from the server, in ms. Default 60 000. */
  timeoutMs?: number;
  /** ngram: the n-gram order, 2 to 5. Default 3. */
  order?: number;
  /** ngram: a text or Markdown file to learn from instead of the shipped corpus. */
  corpus?: string;
}

/**
 * The model `settings` describe. Throws a `TypeError` for an unknown kind or an `openai` model
 * without a URL, a `RangeError` for a bad order, and an `Error` naming the file when the corpus
 * cannot be read.
 */
export async function createModel(settings: ModelSettings): Promise<TextModel> {
  switch (settings.kind) {
    case "ngram":
      return NgramModel.fromText(await loadCorpus(settings.corpus), settings.order);
    case "openai":
      if (!settings.url) throw new TypeError('The "openai" model needs a "url"');
      return new OpenAiModel({
        url: settings.url,
        model: settings.model,
        apiKey: settings.apiKey,
        timeoutMs: settings.timeoutMs,
      });
    default:
      throw new TypeError(
        `Unknown model kind "${
          (settings as { kind: unknown }).kind
        }" (expected "ngram" or "openai")`,
      );
  }
}
