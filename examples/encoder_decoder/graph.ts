/**
 * Seed 002's hello world (Triton Distributed): `encoder_decoder` (the HTTP front) → `encoder`,
 * then → `decoder`. `configs/encoder_decoder.yaml` deploys it.
 *
 * ```sh
 * deno task serve --config configs/encoder_decoder.yaml
 * deno task client --tensor
 * ```
 *
 * @module
 */

import { graph } from "../../actors/component.ts";
import { decoder } from "./decoder.ts";
import { encoder } from "./encoder.ts";
import { encoder_decoder } from "./encoder_decoder.ts";

export { decoder, encoder, encoder_decoder };

/** The graph of `configs/encoder_decoder.yaml`. */
export default graph("encoder_decoder", [encoder, decoder, encoder_decoder]);
