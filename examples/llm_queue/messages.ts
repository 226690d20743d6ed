/**
 * What travels on seed 004's two shared queues: a {@linkcode Prompt} on `prompts`, a
 * {@linkcode Response} on `responses`, and the {@linkcode TokenChunk}s an inference worker
 * streams straight to whoever asked while it generates.
 *
 * @module
 */

/** The shared queue of prompts that inference workers greedily take from. */
export const PROMPTS = "prompts";
/** The shared queue of responses that response workers hand back. */
export const RESPONSES = "responses";

/** A prompt, as put on the prompt queue (its id is the queue item's id). */
export interface Prompt {
  prompt: string;
  /** The most tokens to generate (the inference worker's `max_tokens` when absent). */
  max_tokens?: number;
  /** When it was put (ISO time), for the latency an answer reports. */
  put_at?: string;
}

/** A response, as put on the response queue (its id is the prompt's id). */
export interface Response {
  id: string;
  prompt: string;
  /** The generated text; absent when `error` says why there is none. */
  text?: string;
  error?: string;
  /** The inference instance that generated it, its host and its model. */
  worker: string;
  host: string;
  model: string;
  tokens: number;
  /** Milliseconds from the prompt's `put_at` to the end of generation. */
  latency_ms: number;
  /** Milliseconds spent generating. */
  generation_ms: number;
  /** 2 and up when an earlier inference worker was lost with the prompt. */
  delivery: number;
}

/** A piece of the text, streamed to whoever asked as it is generated. */
export interface TokenChunk {
  id: string;
  delta: string;
}
