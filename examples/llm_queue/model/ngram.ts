/**
 * The offline text model: a word-level n-gram (Markov) chain learned from a short text at start.
 * It needs nothing installed and answers at once, so the example runs anywhere; its answers are
 * plausible-sounding recombinations of its corpus, steered by the prompt's words.
 *
 * @module
 */

import { type Random, seededRandom, systemRandom } from "../../../utils/random.ts";
import type { GenerateOptions, TextModel } from "./text_model.ts";
import { isSentenceEnd, tokenize, wordKey } from "./tokenize.ts";

/** Tokens emitted between two yields to the event loop, so a long answer never blocks it. */
const TOKENS_PER_TURN = 16;

/** Prompt words too common to steer an answer by. */
const STOP_WORDS = new Set(
  ("the and for are but not you your yours all any can had has have her his how its our out " +
    "who what when where which why with this that these those there their them they then than " +
    "from into about was were will would could should does did done been being tell me please " +
    "some more most much many very just also give show explain describe let lets").split(" "),
);

/** One word that may follow a context, and how often it did in the corpus. */
interface Follower {
  token: string;
  count: number;
}

/**
 * A word-level n-gram model. Each next word is drawn from the words that followed the last
 * `order - 1` words in the corpus, weighted by how often they did.
 *
 * An answer opens with a corpus sentence that mentions the prompt's most telling known word (the
 * last one that is not a common word), up to that word, then follows the chain; a prompt with no
 * known word starts at a random sentence. It stops after `maxTokens` words, or at the first
 * sentence end once half of `maxTokens` is out.
 *
 * @example
 * ```ts
 * import { NgramModel } from "./ngram.ts";
 * const model = NgramModel.fromText("Workers take prompts. Workers send answers back.", 2);
 * let answer = "";
 * for await (const piece of model.generate("workers?", { maxTokens: 6, seed: 1 })) answer += piece;
 * console.assert(answer.startsWith(" Workers"));
 * ```
 */
export class NgramModel implements TextModel {
  /** `ngram-<order>`. */
  readonly name: string;
  readonly #context: number;
  readonly #tokens: readonly string[];
  /** Context (tokens joined by spaces) → its followers, most frequent first. */
  readonly #followers = new Map<string, Follower[]>();
  /** Index of the first token of each sentence. */
  readonly #sentenceStarts: number[] = [];
  /** For each token index, the index where its sentence starts. */
  readonly #sentenceOf: Int32Array;
  /** Word key → indexes of the tokens that are that word. */
  readonly #mentions = new Map<string, number[]>();

  private constructor(tokens: string[], order: number) {
    this.name = `ngram-${order}`;
    this.#context = order - 1;
    this.#tokens = tokens;
    this.#sentenceOf = new Int32Array(tokens.length);
    const counts = new Map<string, Map<string, number>>();
    let sentenceStart = 0;
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i]!;
      if (i === sentenceStart) this.#sentenceStarts.push(i);
      this.#sentenceOf[i] = sentenceStart;
      if (isSentenceEnd(token)) sentenceStart = i + 1;
      const key = wordKey(token);
      if (key) {
        const mentions = this.#mentions.get(key);
        if (mentions) mentions.push(i);
        else this.#mentions.set(key, [i]);
      }
      // The corpus is read as a ring (it ends a sentence and starts one), so no context is a
      // dead end.
      const context = this.#window(i);
      const next = tokens[(i + this.#context) % tokens.length]!;
      const followers = counts.get(context) ?? new Map<string, number>();
      counts.set(context, followers.set(next, (followers.get(next) ?? 0) + 1));
    }
    for (const [context, followers] of counts) {
      const ranked = [...followers].map(([token, count]) => ({ token, count }));
      this.#followers.set(context, ranked.sort((a, b) => b.count - a.count));
    }
  }

  /**
   * Learns a model of `order` (2 to 5; 3 by default) from `text`. Throws a `RangeError` for
   * another order or a text of fewer than `order` words.
   */
  static fromText(text: string, order = 3): NgramModel {
    if (!Number.isInteger(order) || order < 2 || order > 5) {
      throw new RangeError(`The n-gram order must be an integer from 2 to 5: "${order}"`);
    }
    const tokens = tokenize(text);
    if (tokens.length < order) {
      throw new RangeError(
        `The corpus is too short for an order-${order} model: ${tokens.length} words`,
      );
    }
    return new NgramModel(tokens, order);
  }

  /** Yields the answer word by word, each with its leading space. */
  async *generate(prompt: string, options: GenerateOptions): AsyncGenerator<string> {
    const { maxTokens, temperature = 1, seed, signal } = options;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) {
      throw new RangeError(`maxTokens must be a non-negative integer: "${maxTokens}"`);
    }
    signal?.throwIfAborted();
    const random = seed === undefined ? systemRandom : seededRandom(seed);
    const enough = Math.ceil(maxTokens / 2);
    let emitted = 0;
    for (const token of this.#walk(prompt, Math.max(0, temperature), random)) {
      if (emitted >= maxTokens) return;
      if (emitted > 0 && emitted % TOKENS_PER_TURN === 0) {
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      signal?.throwIfAborted();
      yield ` ${token}`;
      emitted++;
      if (emitted >= enough && isSentenceEnd(token)) return;
    }
  }

  /** The endless walk: the opening taken from the corpus, then the chain. */
  *#walk(prompt: string, temperature: number, random: Random): Generator<string> {
    const [start, end] = this.#opening(prompt, temperature, random);
    const last = Math.max(end, start + this.#context - 1);
    for (let i = start; i <= last; i++) yield this.#tokens[i % this.#tokens.length]!;
    const context = Array.from(
      { length: this.#context },
      (_, k) => this.#tokens[(last - this.#context + 1 + k) % this.#tokens.length]!,
    );
    while (true) {
      const next = _choose(this.#followers.get(context.join(" "))!, temperature, random);
      yield next;
      context.push(next);
      context.shift();
    }
  }

  /** Where the answer opens: a sentence start, and the index of the prompt word it mentions. */
  #opening(prompt: string, temperature: number, random: Random): [number, number] {
    const words = prompt.split(/\s+/).map(wordKey).reverse();
    const word = words.find((key) =>
      key.length > 2 && !STOP_WORDS.has(key) && this.#mentions.has(key)
    );
    if (word === undefined) {
      const start = temperature === 0 ? 0 : _pick(this.#sentenceStarts, random);
      return [start, start];
    }
    const mentions = this.#mentions.get(word)!;
    const mention = temperature === 0
      ? mentions.reduce((a, b) => (b - this.#sentenceOf[b]! < a - this.#sentenceOf[a]! ? b : a))
      : _pick(mentions, random);
    return [this.#sentenceOf[mention]!, mention];
  }

  /** The context that starts at token `i` (wrapping round the end of the corpus). */
  #window(i: number): string {
    const words: string[] = [];
    for (let k = 0; k < this.#context; k++) {
      words.push(this.#tokens[(i + k) % this.#tokens.length]!);
    }
    return words.join(" ");
  }
}

/** A follower drawn by weight `count^(1/temperature)`; the most frequent one at temperature 0. */
function _choose(followers: Follower[], temperature: number, random: Random): string {
  if (temperature === 0 || followers.length === 1) return followers[0]!.token;
  const top = followers[0]!.count;
  const weights = followers.map((f) => (f.count / top) ** (1 / temperature));
  let rest = random() * weights.reduce((sum, w) => sum + w, 0);
  for (let i = 0; i < followers.length; i++) {
    rest -= weights[i]!;
    if (rest < 0) return followers[i]!.token;
  }
  return followers[followers.length - 1]!.token;
}

/** One element of `items`, uniformly. */
function _pick(items: readonly number[], random: Random): number {
  return items[Math.floor(random() * items.length)]!;
}
