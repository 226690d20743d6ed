/**
 * What the inference workers call: a {@linkcode TextModel} turns a prompt into a stream of text
 * pieces. Two implementations: `ngram.ts` (offline, built from a text the repository ships) and
 * `openai.ts` (any server that speaks the OpenAI completions protocol). `model.ts` picks one from
 * the settings.
 *
 * @module
 */

/** How one generation runs. */
export interface GenerateOptions {
  /** At most this many pieces. */
  maxTokens: number;
  /** Randomness: 0 always picks the likeliest continuation; 1 (the default) follows the model. */
  temperature?: number;
  /** Makes the answer repeatable (same prompt, same seed, same answer) where the model can. */
  seed?: number;
  /** Stops the generation at once; the iteration then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * A text model: one generation yields text pieces as they come (a word with its leading space,
 * or a part of one), then ends.
 *
 * @example
 * ```ts ignore
 * for await (const piece of model.generate("What is a queue?", { maxTokens: 40 })) {
 *   await Deno.stdout.write(new TextEncoder().encode(piece));
 * }
 * ```
 */
export interface TextModel {
  /** Says which model this is, e.g. `ngram-3` or `openai:llama at http://127.0.0.1:8080`. */
  readonly name: string;
  /** Generates an answer to `prompt`, piece by piece. */
  generate(prompt: string, options: GenerateOptions): AsyncIterable<string>;
  /** Releases what the model holds (nothing for the built-in ones). */
  close?(): Promise<void>;
}
