/**
 * Markdown into plain prose for the n-gram corpus: code blocks, tables, headings, HTML and inline
 * code go; link texts, list items and paragraphs stay (each list item becomes a paragraph).
 *
 * @module
 */

/**
 * The prose of a Markdown document, paragraphs separated by blank lines.
 *
 * @example
 * ```ts
 * import { markdownToProse } from "./markdown.ts";
 * const prose = markdownToProse("# Title\n\nRun `deno task serve` [now](x.md).\n\n~~~sh\nls\n~~~");
 * console.assert(prose.trim() === "Run now.");
 * ```
 */
export function markdownToProse(markdown: string): string {
  const lines: string[] = [];
  let inFence = false;
  for (const raw of markdown.split(/\r?\n/)) {
    if (/^\s*(```|~~~)/.test(raw)) {
      inFence = !inFence;
      lines.push("");
      continue;
    }
    if (inFence || _isNonProse(raw)) {
      lines.push("");
      continue;
    }
    const item = /^\s*(?:[-*+]|\d+[.)])\s+/.exec(raw);
    if (item) lines.push("");
    lines.push(_inlineToText(item ? raw.slice(item[0].length) : raw.replace(/^\s*>\s?/, "")));
  }
  return lines.join("\n").replace(/\n{3,}/g, "\n\n");
}

/** Lines that carry no prose: headings, table rows, rules, HTML-only lines, indented code. */
function _isNonProse(line: string): boolean {
  return /^\s*#/.test(line) || /^\s*\|/.test(line) || /^\s*([-*_]\s*){3,}$/.test(line) ||
    /^\s*(<[^>]*>\s*)+$/.test(line) || /^( {4}|\t)(?!\s*(?:[-*+]|\d+[.)])\s)/.test(line);
}

/** One line's inline Markdown as text: links keep their text; code, URLs, tags and emphasis go. */
function _inlineToText(line: string): string {
  return line
    .replace(/`[^`]*`/g, "")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]*>/g, "")
    .replace(/\bhttps?:\/\/\S+/g, "")
    .replace(/\*+|(^|\s)_+|_+(?=\s|$|[.,;:!?])/g, "$1")
    .replace(/\s+([.,;:!?])/g, "$1")
    .trim();
}
