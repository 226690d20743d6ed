/**
 * Seeded, bounded fuzzing of the two parsers that face untrusted bytes: the mailbox envelope
 * decoder and the gateway's body parser. Whatever comes in, the answer is a request, a reason to
 * drop the message, or a `bad_request`: never another exception, never a 500.
 */

import assert from "node:assert/strict";
import type { BusMessage } from "../../planes/bus.ts";
import { MeshError } from "../../protocol/errors.ts";
import { decodeJson, decodeRequest, encodeRequest } from "../../protocol/wire.ts";
import { createGatewayApp } from "../../gateway/app.ts";

/** mulberry32: a small, seeded PRNG, so a failure replays exactly. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261122);
const encoder = new TextEncoder();
const SAMPLES = [
  '{"prompt":"test prompt","request_id":"id_number"}',
  '{"text":"world,universe,galaxy"}',
  '{"a":[1,2,{"b":null}],"c":"\\u00e9\\n"}',
  "[]",
  '"x"',
];

const PUNCTUATION = '{["\\:,}]';

/** A mutated copy of `bytes`: flipped, dropped, duplicated or inserted bytes, or a truncation. */
function mutate(bytes: Uint8Array, random: () => number): Uint8Array<ArrayBuffer> {
  const out = [...bytes];
  const edits = 1 + Math.floor(random() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (out.length + 1));
    switch (Math.floor(random() * 6)) {
      case 0:
        if (out.length) out[at % out.length] = Math.floor(random() * 256);
        break;
      case 1:
        out.splice(at, 1);
        break;
      case 2:
        out.splice(at, 0, ...out.slice(at, at + Math.floor(random() * 8)));
        break;
      case 3:
        out.splice(at, 0, PUNCTUATION.charCodeAt(Math.floor(random() * PUNCTUATION.length)));
        break;
      case 4:
        out.length = at;
        break;
      default:
        out.splice(at, 0, 0xc0 + Math.floor(random() * 64), Math.floor(random() * 256));
    }
  }
  return new Uint8Array(out);
}

Deno.test(`fuzz: the envelope decoder never throws on mutated messages (seed ${SEED}, 3000 cases)`, () => {
  const random = prng(SEED);
  let requests = 0;
  for (let i = 0; i < 3000; i++) {
    const body = encoder.encode(SAMPLES[Math.floor(random() * SAMPLES.length)]!);
    const envelope = encodeRequest({
      requestId: random() < 0.5
        ? "req-1"
        : "r".repeat(Math.floor(random() * 300) + 1).slice(0, 256),
      deadline: Date.now() + 1000,
      attempt: 1 + Math.floor(random() * 3),
      resumeFrom: random() < 0.2 ? Math.floor(random() * 5) : 0,
      traceparent: random() < 0.3 ? "00-abc-def-01" : undefined,
    }, body);
    // Mutate the envelope itself half of the time, else only the body after it.
    const data = random() < 0.5 ? mutate(envelope, random) : new Uint8Array([
      ...envelope.subarray(0, envelope.length - body.length),
      ...mutate(body, random),
    ]);
    const message: BusMessage = {
      subject: "mesh.ns.c.generate.x",
      reply: random() < 0.1 ? undefined : "_INBOX.a.1",
      data,
    };
    const decoded = decodeRequest(message);
    if (typeof decoded === "string") continue;
    requests++;
    try {
      decodeJson(decoded.data);
    } catch (error) {
      assert.ok(error instanceof MeshError && error.code === "bad_request", String(error));
    }
  }
  assert.ok(requests > 100, `only ${requests} envelopes survived mutation`);
});

Deno.test(`fuzz: the gateway answers mutated bodies with 200 or a clear 4xx, never 500 (seed ${SEED}, 1500 cases)`, async () => {
  const random = prng(SEED + 1);
  const app = createGatewayApp({
    generate: async function* (body) {
      yield body;
    },
    health: () => ({}),
    ready: () => true,
    maxBodyBytes: 4096,
  });
  const statuses = new Map<number, number>();
  for (let i = 0; i < 1500; i++) {
    const body = mutate(encoder.encode(SAMPLES[Math.floor(random() * SAMPLES.length)]!), random);
    const res = await app.request("/generate", { method: "POST", body });
    const text = await res.text();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    assert.ok([200, 400].includes(res.status), `status ${res.status} for ${JSON.stringify(text)}`);
    if (res.status === 400) assert.equal(JSON.parse(text).error.code, "bad_request");
  }
  assert.ok((statuses.get(400) ?? 0) > 100 && (statuses.get(200) ?? 0) > 10, [...statuses].join());
});
