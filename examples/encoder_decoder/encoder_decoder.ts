/**
 * Seed 002's `encoder_decoder`, the component the gateway fronts (`POST /generate`): it sends the
 * request to an `encoder`, then the encoder's answer, as it is, to a `decoder`, and answers with
 * the decoder's output. Encode then decode is the identity, so the answer equals the request.
 *
 * It never decodes the tensor: it only checks that the body has a `tensor` field and passes the
 * bodies on (with the data plane wired, they will carry descriptors, and the decoder will pull the
 * encoder's bytes straight from the encoder).
 *
 * It calls them through the durable work queue by default (`router: work_queue`; the encoder and
 * decoder are served with `ServiceArgs.queue: true`): each request is stored until a worker with
 * room pulls it, a request whose worker dies goes to another one, and requests sent while no
 * worker runs wait for one (within their deadline). Any other routing policy works too.
 *
 * ```sh
 * deno task serve --config configs/encoder_decoder.yaml
 * deno task client --tensor --size 1024
 * ```
 *
 * @module
 */

import { component } from "../../actors/component.ts";
import { defineSchema, string } from "../../actors/config_schema.ts";
import { MeshError } from "../../protocol/errors.ts";
import { decoder } from "./decoder.ts";
import { encoder } from "./encoder.ts";

/** The one answer of a dependency (both answer with a single chunk). */
async function _only(answer: AsyncIterable<unknown>): Promise<unknown> {
  let value: unknown;
  let seen = false;
  for await (const chunk of answer) {
    if (seen) throw new MeshError("internal", "Expected one chunk, got several");
    [value, seen] = [chunk, true];
  }
  if (!seen) throw new MeshError("internal", "Expected one chunk, got none");
  return value;
}

/** The encoder_decoder's config section. */
export const ENCODER_DECODER_CONFIG = defineSchema({
  router: string({
    default: "work_queue",
    doc: "How the encoder and decoder are called: work_queue (the durable queue), or a policy",
  }),
});

/** The encoder_decoder component. */
export const encoder_decoder = component({
  name: "encoder_decoder",
  http: true,
  config: ENCODER_DECODER_CONFIG,
  depends: { encoder, decoder },
  endpoints: {
    async generate(request: unknown, ctx) {
      const tensor = (request as { tensor?: unknown } | null)?.tensor;
      if (tensor === null || typeof tensor !== "object") {
        throw new MeshError(
          "bad_request",
          'Field "tensor" is required: {"dtype", "shape", "data" (base64)}',
        );
      }
      // A fresh id per call: the work queue stores an id once, and HTTP clients may repeat theirs.
      const policy = ctx.config.router;
      const encoded = await _only(
        ctx.deps.encoder.generate(request, { policy, requestId: crypto.randomUUID() }),
      );
      return await _only(
        ctx.deps.decoder.generate(encoded, { policy, requestId: crypto.randomUUID() }),
      );
    },
  },
});
