import assert from "node:assert/strict";
import { ASCII_MAX, asciiText, writeAscii } from "../../utils/ascii_text.ts";
import { decodeStrictUtf8 } from "../../protocol/strict_utf8.ts";
import { decodeFrame, encodeFrame, encodeText } from "../../protocol/wire.ts";

const te = new TextEncoder();

Deno.test("asciiText() decodes short ASCII as TextDecoder does, and declines the rest", () => {
  const ascii = '{"prompt":"hi","request_id":"c33bc04e-b597"}';
  assert.equal(asciiText(te.encode(ascii)), ascii);
  assert.equal(asciiText(new Uint8Array(0)), "");
  assert.equal(asciiText(te.encode("a".repeat(ASCII_MAX))), "a".repeat(ASCII_MAX));
  assert.equal(asciiText(te.encode("a".repeat(ASCII_MAX + 1))), undefined);
  assert.equal(asciiText(te.encode("grüße")), undefined);
  assert.equal(asciiText(new Uint8Array([0x61, 0xff])), undefined);
});

Deno.test("writeAscii() writes short ASCII in place, and returns -1 for what it does not take", () => {
  const out = new Uint8Array(8).fill(0xee);
  assert.equal(writeAscii("abc", out, 2), 3);
  assert.deepEqual([...out], [0xee, 0xee, 0x61, 0x62, 0x63, 0xee, 0xee, 0xee]);
  assert.equal(writeAscii("", out, 8), 0);
  assert.equal(writeAscii("abcd", out, 5), -1, "does not fit");
  assert.equal(writeAscii("é", out, 0), -1, "not ASCII");
  assert.equal(writeAscii("a".repeat(ASCII_MAX + 1), new Uint8Array(1000), 0), -1, "too long");
});

Deno.test("strict UTF-8 and the wire give the same bytes and text with and without the ASCII path", () => {
  for (const text of ["hi", "grüße 東京 😀", "a".repeat(300), `${"a".repeat(255)}é`]) {
    assert.deepEqual([...encodeText(text)], [...te.encode(text)], text);
    assert.equal(decodeStrictUtf8(te.encode(text)), text);
    const frame = decodeFrame({
      subject: "s",
      data: encodeFrame(0, "final", text, encodeText(text)),
    });
    assert.equal(frame?.instance, text);
    assert.equal(decodeStrictUtf8(frame.data), text);
  }
  // Invalid UTF-8 is refused whatever its length.
  assert.throws(() => decodeStrictUtf8(new Uint8Array([0x68, 0xc3])), TypeError);
  assert.throws(() => decodeStrictUtf8(new Uint8Array(300).fill(0xff)), TypeError);
});
