/**
 * The text the n-gram model learns from: the prose shipped in `examples/llm_queue/corpus/` by
 * default, or any text or Markdown file the settings name (Markdown is reduced to its prose).
 *
 * @module
 */

import { markdownToProse } from "./markdown.ts";

/** The shipped corpus, found next to this module so that it works from any directory. */
export const DEFAULT_CORPUS: URL = new URL("../corpus/mesh_talk.txt", import.meta.url);

/**
 * The prose of the corpus at `path` (a file path or URL; default {@linkcode DEFAULT_CORPUS}).
 * Files ending in `.md` are reduced to their prose. Throws `Cannot read the model's corpus
 * "<path>": <reason>` when the file cannot be read.
 */
export async function loadCorpus(path: string | URL = DEFAULT_CORPUS): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const shown = path instanceof URL && path.protocol === "file:" ? path.pathname : String(path);
    throw new Error(`Cannot read the model's corpus "${shown}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  return String(path).toLowerCase().endsWith(".md") ? markdownToProse(text) : text;
}
