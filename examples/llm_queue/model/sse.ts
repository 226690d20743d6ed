/**
 * Server-sent events, read as they arrive: the `data` of each event in a byte stream
 * (`text/event-stream`), as the HTML standard defines it, without a dependency.
 *
 * @module
 */

/**
 * Yields the data of each event in `body` (its `data:` lines joined with `\n`) as soon as the
 * blank line that ends the event arrives. Comments and other fields are skipped; events without
 * data are skipped; a last event that the stream ends without a blank line still counts. Leaving
 * the loop early cancels `body`.
 *
 * @example
 * ```ts
 * import { sseData } from "./sse.ts";
 * const body = new Response(": hi\ndata: one\n\ndata: two\ndata: 2\r\n\r\n").body!;
 * const events = await Array.fromAsync(sseData(body));
 * console.assert(events.join("|") === "one|two\n2");
 * ```
 */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  let data: string[] = [];
  for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    while (true) {
      const end = buffer.search(/[\r\n]/);
      // A final "\r" may be the first half of "\r\n": wait for the next chunk.
      if (end < 0 || (buffer[end] === "\r" && end === buffer.length - 1)) break;
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith("\r\n", end) ? 2 : 1));
      if (line === "") {
        if (data.length > 0) yield data.join("\n");
        data = [];
      } else if (line === "data" || line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }
    }
  }
  const rest = buffer.replace(/\r$/, "");
  if (rest === "data" || rest.startsWith("data:")) data.push(rest.slice(5).replace(/^ /, ""));
  if (data.length > 0) yield data.join("\n");
}
