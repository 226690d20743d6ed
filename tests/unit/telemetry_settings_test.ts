/**
 * The config's `telemetry:` section (`configs/telemetry_settings.ts`): what it sets, the
 * positioned errors for what it must not, and `MESH_METRICS_ADVERTISE` beating
 * `telemetry.advertise`.
 */

import assert from "node:assert/strict";
import { ConfigError } from "../../configs/config_error.ts";
import { resolveConfig } from "../../configs/resolve.ts";
import { parseConfigText } from "../../configs/yaml_document.ts";

const FILE = "configs/x.yaml";

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("telemetry: reads port, host, every_s and advertise", () => {
  const doc = parseConfigText(
    "telemetry:\n  port: 9400\n  host: 127.0.0.1\n  every_s: 0.5\n  advertise: node1.lan\n",
    FILE,
  );
  assert.deepEqual(doc.telemetry, {
    port: 9400,
    host: "127.0.0.1",
    everyS: 0.5,
    advertise: "node1.lan",
  });
  assert.deepEqual(parseConfigText("telemetry:\n", FILE).telemetry, {});
  assert.deepEqual(parseConfigText("telemetry: {port: 0}\n", FILE).telemetry, { port: 0 });
  assert.equal(parseConfigText("namespace: a\n", FILE).telemetry, undefined);
});

Deno.test("telemetry: a mistake names the file, line, column and key", () => {
  const cases: [string, string][] = [
    [
      "telemetry:\n  prot: 9400\n",
      `${FILE}:2:3: unknown key "telemetry.prot"; expected one of port, host, every_s, advertise`,
    ],
    [
      "telemetry:\n  port: 70000\n",
      `${FILE}:2:9: telemetry.port: expected an integer between 0 and 65535, got 70000`,
    ],
    [
      'telemetry:\n  port: "9400"\n',
      `${FILE}:2:9: telemetry.port: expected an integer between 0 and 65535, got "9400"`,
    ],
    [
      "telemetry:\n  every_s: 0\n",
      `${FILE}:2:12: telemetry.every_s: expected a number between 0.05 and 3600, got 0`,
    ],
    [
      "telemetry:\n  advertise: two words\n",
      `${FILE}:2:14: telemetry.advertise: expected a host name or IP address, got "two words"`,
    ],
    [
      "telemetry: 9400\n",
      `${FILE}:1:12: telemetry: expected a mapping of port, host, every_s, advertise, got 9400`,
    ],
  ];
  for (const [text, message] of cases) {
    assert.equal(errorOf(() => parseConfigText(text, FILE)), message);
  }
});

Deno.test("resolveConfig(): the telemetry section, and MESH_METRICS_ADVERTISE beats telemetry.advertise", () => {
  const doc = parseConfigText("telemetry:\n  port: 0\n  advertise: a.lan\n", FILE);
  const fromFile = resolveConfig(doc, {}, { env: {} });
  assert.deepEqual(fromFile.telemetry, { port: 0, advertise: "a.lan" });
  assert.equal(fromFile.metricsAdvertise, "a.lan");
  const fromEnv = resolveConfig(doc, {}, { env: { MESH_METRICS_ADVERTISE: "10.0.0.9" } });
  assert.equal(fromEnv.metricsAdvertise, "10.0.0.9");
  // The variable applies without a telemetry section too (no agent, but the targets' host).
  const none = resolveConfig(parseConfigText("", FILE), {}, {
    env: { MESH_METRICS_ADVERTISE: "10.0.0.9" },
  });
  assert.equal(none.telemetry, undefined);
  assert.equal(none.metricsAdvertise, "10.0.0.9");
  assert.equal(
    resolveConfig(parseConfigText("", FILE), {}, { env: {} }).metricsAdvertise,
    undefined,
  );
});
