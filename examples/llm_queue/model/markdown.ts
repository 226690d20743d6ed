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
  /** An inline code span opened on an earlier line of the paragraph and not yet closed. */
  let inCode = false;
  for (const raw of markdown.split(/\r?\n/)) {
    if (/^\s*(```|~~~)/.test(raw)) {
      inFence = !inFence;
      lines.push("");
      continue;
    }
    if (inFence || _isNonProse(raw) || raw.trim() === "") {
      inCode = false;
      lines.push("");
      continue;
    }
    const item = /^\s*(?:[-*+]|\d+[.)])\s+/.exec(raw);
    if (item) lines.push("");
    let line = item ? raw.slice(item[0].length) : raw.replace(/^\s*>\s?/, "");
    if (inCode) {
      const close = line.indexOf("`");
      if (close < 0) continue; // the whole line is inside the code span
      line = line.slice(close + 1);
      inCode = false;
    }
    line = line.replace(/`[^`]*`/g, "");
    const open = line.indexOf("`");
    if (open >= 0) [line, inCode] = [line.slice(0, open), true];
    lines.push(_inlineToText(line));
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
