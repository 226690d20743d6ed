/**
 * A text model served over HTTP by anything that speaks the OpenAI completions protocol
 * (llama.cpp's `llama-server`, vLLM, Ollama, hosted APIs): `POST <url>/v1/completions` with
 * `stream: true`, read as server-sent events, one text piece per event as it arrives.
 *
 * @module
 */

import type { GenerateOptions, TextModel } from "./text_model.ts";
import {
  ModelError,
  ModelHttpError,
  ModelStreamError,
  ModelTimeoutError,
  ModelUnreachableError,
} from "./model_errors.ts";
import { sseData } from "./sse.ts";

/** Where the server is and how to talk to it. */
export interface OpenAiSettings {
  /** The server's base URL, with or without a trailing `/v1` (`http://127.0.0.1:8080`). */
  url: string;
  /** The `model` field of each request; left out when not given (llama.cpp needs none). */
  model?: string;
  /** Sent as `Authorization: Bearer <apiKey>` when given. */
  apiKey?: string;
  /** The longest wait for the server's answer and then for each piece. Default 60 000 ms. */
  timeoutMs?: number;
}

/** The longest silence from the server, by default. */
const DEFAULT_TIMEOUT_MS = 60_000;

/** At most this much of an error body goes into an error message. */
const MAX_SHOWN = 300;

/**
 * A client of an OpenAI-compatible completions server. Failures are {@linkcode ModelError}s
 * with one-line messages that name the server: unreachable, an HTTP error status (with the
 * server's own message), a malformed or broken stream, or silence longer than `timeoutMs`. An
 * aborted `signal` stops the request at once and the iteration rejects with its reason.
 *
 * @example
 * ```ts ignore
 * const model = new OpenAiModel({ url: "http://127.0.0.1:8080", model: "qwen2.5-0.5b" });
 * for await (const piece of model.generate("Hello", { maxTokens: 32 })) console.log(piece);
 * ```
 */
export class OpenAiModel implements TextModel {
  /** `openai:<model> at <url>`. */
  readonly name: string;
  /** The completions endpoint requests go to. */
  readonly endpoint: string;
  readonly #base: string;
  readonly #settings: OpenAiSettings;
  readonly #timeoutMs: number;

  /** A client of the server at `settings.url`; throws a `TypeError` for a URL that is not http(s). */
  constructor(settings: OpenAiSettings) {
    let url: URL;
    try {
      url = new URL(settings.url);
    } catch {
      throw new TypeError(`The model server URL is not a URL: "${settings.url}"`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`The model server URL must be http or https: "${settings.url}"`);
    }
    const timeoutMs = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive: "${timeoutMs}"`);
    this.#base = url.href.replace(/\/+$/, "").replace(/\/v1$/, "");
    this.endpoint = `${this.#base}/v1/completions`;
    this.name = `openai:${settings.model ?? "default"} at ${this.#base}`;
    this.#settings = settings;
    this.#timeoutMs = timeoutMs;
  }

  /** Streams the server's completion of `prompt`, piece by piece as the server sends them. */
  async *generate(prompt: string, options: GenerateOptions): AsyncGenerator<string> {
    const { signal } = options;
    signal?.throwIfAborted();
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, this.#timeoutMs);
    };
    try {
      arm();
      const response = await this.#post(prompt, options, controller.signal);
      if (!response.ok) throw await this.#httpError(response);
      if (!response.body) {
        throw new ModelStreamError(`The model server at ${this.#base} sent no body`);
      }
      if (/application\/json/i.test(response.headers.get("content-type") ?? "")) {
        const text = this.#pieceOf(await response.text());
        clearTimeout(timer);
        if (text) yield text;
        return;
      }
      let finished = false;
      for await (const data of sseData(response.body)) {
        if (data.trim() === "[DONE]") return;
        const { text, done } = this.#eventOf(data);
        finished ||= done;
        if (text) {
          clearTimeout(timer);
          yield text;
        }
        arm();
      }
      if (!finished) {
        throw new ModelStreamError(
          `The model server at ${this.#base} ended the stream before [DONE]`,
        );
      }
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (timedOut) {
        throw new ModelTimeoutError(
          `The model server at ${this.#base} sent nothing for ${this.#timeoutMs} ms`,
          { cause: error },
        );
      }
      if (error instanceof ModelError) throw error;
      throw new ModelStreamError(
        `The stream from the model server at ${this.#base} broke: ${_oneLine(error)}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      controller.abort();
    }
  }

  /** Sends the request; a failure to connect becomes a {@linkcode ModelUnreachableError}. */
  async #post(prompt: string, options: GenerateOptions, signal: AbortSignal): Promise<Response> {
    const { model, apiKey } = this.#settings;
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "text/event-stream",
    };
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    const body = JSON.stringify({
      ...(model === undefined ? {} : { model }),
      prompt,
      max_tokens: options.maxTokens,
      ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      stream: true,
    });
    try {
      return await fetch(this.endpoint, { method: "POST", headers, body, signal });
    } catch (error) {
      if (signal.aborted) throw error;
      throw new ModelUnreachableError(
        `Cannot reach the model server at ${this.#base}: ${_oneLine(error)}`,
        { cause: error },
      );
    }
  }

  /** The error for a non-2xx answer, with the server's own message when it gave one. */
  async #httpError(response: Response): Promise<ModelHttpError> {
    const said = _serverMessage(await response.text());
    const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
    return new ModelHttpError(
      `The model server at ${this.#base} answered ${status}${said ? `: ${said}` : ""}`,
      response.status,
    );
  }

  /** The text piece and end mark of one stream event; throws for malformed data or an error. */
  #eventOf(data: string): { text: string; done: boolean } {
    let event: unknown;
    try {
      event = JSON.parse(data);
    } catch {
      throw new ModelStreamError(
        `Malformed stream from the model server at ${this.#base}: ${_shorten(data)}`,
      );
    }
    const record = event as {
      error?: unknown;
      choices?: { text?: unknown; finish_reason?: unknown }[];
    };
    if (record?.error !== undefined) {
      throw new ModelStreamError(
        `The model server at ${this.#base} failed mid-stream: ${_errorText(record.error)}`,
      );
    }
    const choice = Array.isArray(record?.choices) ? record.choices[0] : undefined;
    if (choice === undefined || (choice.text !== undefined && typeof choice.text !== "string")) {
      throw new ModelStreamError(
        `Malformed stream from the model server at ${this.#base}: ${_shorten(data)}`,
      );
    }
    return { text: (choice.text as string | undefined) ?? "", done: choice.finish_reason != null };
  }

  /** The text of a whole (non-streamed) JSON answer, for servers that ignore `stream`. */
  #pieceOf(body: string): string {
    const { text } = this.#eventOf(body);
    return text;
  }
}

/** The message a server put in an error body (OpenAI, llama.cpp, vLLM, Ollama shapes), or its text. */
function _serverMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown; detail?: unknown };
    if (parsed?.error !== undefined) return _errorText(parsed.error);
    if (typeof parsed?.message === "string") return _shorten(parsed.message);
    if (typeof parsed?.detail === "string") return _shorten(parsed.detail);
  } catch {
    // not JSON: show the text
  }
  return _shorten(body);
}

/** An `error` field as text: a string, or an object's `message`. */
function _errorText(error: unknown): string {
  if (typeof error === "string") return _shorten(error);
  const message = (error as { message?: unknown })?.message;
  return _shorten(typeof message === "string" ? message : JSON.stringify(error));
}

/** An error's message on one line. */
function _oneLine(error: unknown): string {
  return _shorten(error instanceof Error ? error.message : String(error));
}

/** `text` on one line, cut to {@linkcode MAX_SHOWN} characters. */
function _shorten(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > MAX_SHOWN ? `${line.slice(0, MAX_SHOWN)}…` : line;
}
