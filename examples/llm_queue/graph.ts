/**
 * Seed 004 (HPE Dragon's LLM inference with node telemetry): `chat` (the HTTP front) puts each
 * prompt on the shared `prompts` queue; `inference` workers greedily take prompts, generate, and
 * put each response on the shared `responses` queue; `responder` workers hand each response back
 * to whoever asked. `configs/llm_queue.yaml` deploys it, with a telemetry agent per node.
 *
 * ```sh
 * deno task serve --config configs/llm_queue.yaml
 * ```
 *
 * @module
 */

import { graph } from "../../actors/component.ts";
import { chat } from "./chat.ts";
import { inference } from "./inference.ts";
import { responder } from "./responder.ts";

export { chat, inference, responder };

/** The graph of `configs/llm_queue.yaml`. */
export default graph("llm_queue", [inference, responder, chat]);
