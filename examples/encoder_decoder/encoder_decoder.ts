/**
 * Seed 002's `encoder_decoder`, the component the gateway fronts (`POST /generate`): it sends the
 * request to an `encoder`, then the encoder's answer, as it is, to a `decoder`, and answers with
 * the decoder's output. Encode then decode is the identity, so the answer equals the request.
 *
 * It never pulls a tensor on the way: a request whose tensor travels by descriptor goes to the
 * encoder as it is (the encoder pulls the bytes from their holder), and the encoder's answer, a
 * descriptor of bytes the encoder holds, goes to the decoder as it is: the decoder pulls them
 * straight from the encoder, and they never cross this process. The answer has the request's
 * form: a descriptor request gets the decoder's descriptor (its caller pulls from the decoder);
 * an inline request (an HTTP client's) gets an inline answer. An inline tensor over
 * `data_plane.threshold` is put in this process's data plane before it goes on, and the answer
 * pulled back to be inlined, so no large body crosses the request plane.
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
import { inlineSize, inlineTensor, isTensorRef, packTensor, unpackTensor } from "./tensor_json.ts";

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
          'Field "tensor" is required: {"dtype", "shape", "data" (base64) or "descriptor"}',
        );
      }
      // An inline tensor too large for the request plane goes on by descriptor (held here).
      const size = isTensorRef(request) ? undefined : inlineSize(request);
      const inline = size !== undefined;
      const sent = inline && size > ctx.data.threshold
        ? await packTensor(await unpackTensor(request), ctx)
        : request;
      // A fresh id per call: the work queue stores an id once, and HTTP clients may repeat theirs.
      const policy = ctx.config.router;
      const encoded = await _only(
        ctx.deps.encoder.generate(sent, { policy, requestId: crypto.randomUUID() }),
      );
      // Handed on unread: the decoder pulls the encoder's bytes from the encoder.
      const decoded = await _only(
        ctx.deps.decoder.generate(encoded, { policy, requestId: crypto.randomUUID() }),
      );
      return inline && isTensorRef(decoded)
        ? inlineTensor(await unpackTensor(decoded, ctx))
        : decoded;
    },
  },
});
