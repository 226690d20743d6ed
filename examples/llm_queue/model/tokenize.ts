/**
 * Prose into word tokens for the n-gram model: a token is a word with the punctuation attached to
 * it (`queue,` `answer.`), so joining tokens with spaces gives readable text back.
 *
 * @module
 */

/**
 * The tokens of `text`, paragraph by paragraph (paragraphs are separated by blank lines). A
 * paragraph that does not end a sentence (a heading, a list item) gets a final period, so that
 * every paragraph ends one. Brackets and double quotes are dropped (a chain cannot balance them),
 * and so are tokens without a letter or digit (dashes, bullets).
 */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    const words = paragraph
      .replace(/[()[\]{}"“”]/g, "")
      .replace(/([,;:.!?])[,;:]+/g, "$1")
      .split(/\s+/)
      .filter((word) => /[\p{L}\p{N}]/u.test(word));
    if (words.length === 0) continue;
    const last = words.length - 1;
    if (!isSentenceEnd(words[last]!)) words[last] = `${words[last]!.replace(/[,;:]+$/, "")}.`;
    tokens.push(...words);
  }
  return tokens;
}

/** Whether `token` ends a sentence (`.`, `!` or `?`). */
export function isSentenceEnd(token: string): boolean {
  return /[.!?]$/.test(token);
}

/** The token as a bare lower-case word, for matching a prompt's words: `"Queue?"` → `queue`. */
export function wordKey(token: string): string {
  return token.toLowerCase().replace(/[^\p{L}\p{N}'-]+/gu, "").replace(/^['-]+|['-]+$/g, "");
}
