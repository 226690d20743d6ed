/**
 * The NATS services protocol (ADR-32) on a real `nats-server`, asked the way NATS tooling asks:
 * with `@nats-io/services`' client on its own connection. Every instance of a runtime answers
 * PING, INFO and STATS; the answers validate against JSON schemas written from ADR-32's field
 * list (`tests/fixtures/adr32/`), and the stats count what was sent. The registry is the embedded
 * one: discovery over etcd plays no part in `$SRV`.
 */

import assert from "node:assert/strict";
import { Ajv } from "ajv";
import { connect } from "@nats-io/transport-node";
import { Svcm } from "@nats-io/services";
import { component } from "../../actors/component.ts";
import { connectNatsBus } from "../../planes/nats/connect.ts";
import { MemoryRegistry } from "../../planes/memory/memory_registry.ts";
import { MeshError } from "../../protocol/errors.ts";
import { MESHWORK_VERSION, Runtime } from "../../runtime/runtime.ts";
import { requestServiceStats } from "../../runtime/service_discovery.ts";
import { startNatsServer } from "../helpers/nats_server.ts";

const Echo = component({
  name: "Echo",
  endpoints: {
    generate(request: { fail?: boolean }) {
      if (request.fail) throw new MeshError("bad_request", "asked to fail");
      return request;
    },
    stream: async function* () {
      yield "a";
      yield "b";
    },
  },
});
const Tally = component({ name: "Tally", endpoints: { generate: (n: number) => n + 1 } });

async function schema(name: string) {
  const url = new URL(`../fixtures/adr32/${name}_response.json`, import.meta.url);
  return JSON.parse(await Deno.readTextFile(url));
}

async function drain(stream: AsyncIterable<unknown>): Promise<unknown[]> {
  const chunks: unknown[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

async function all<T>(answers: AsyncIterable<T>): Promise<T[]> {
  const list: T[] = [];
  for await (const answer of answers) list.push(answer);
  return list;
}

Deno.test("nats-io/services' client lists every instance, its endpoints and its stats (ADR-32)", async () => {
  await using nats = await startNatsServer();
  const registry = new MemoryRegistry();
  const serverBus = await connectNatsBus({ servers: nats.url });
  const callerBus = await connectNatsBus({ servers: nats.url });
  const server = new Runtime({ bus: serverBus, registry, namespace: "srv_test", hostname: "n1" });
  const caller = new Runtime({ bus: callerBus, registry, namespace: "srv_test", hostname: "n2" });
  const nc = await connect({ servers: nats.url });
  try {
    const echoes = await server.serve(Echo, { instances: 3 });
    const tallies = await server.serve(Tally, { instances: 2 });
    const echo = caller.client("Echo");
    await echo.waitForInstances(3);
    // Instance i serves i + 1 requests; the first also one that fails, and one stream.
    for (const [i, actor] of echoes.entries()) {
      for (let n = 0; n <= i; n++) await drain(echo.generate({ n }, { directTo: actor.id }));
    }
    await assert.rejects(
      drain(echo.generate({ fail: true }, { directTo: echoes[0]!.id })),
      /asked to fail/,
    );
    const stream = caller.client("Echo", { endpoint: "stream" });
    await stream.waitForInstances(3);
    assert.deepEqual(await drain(stream.generate({}, { directTo: echoes[0]!.id })), ["a", "b"]);

    const ajv = new Ajv({ allErrors: true });
    const valid = {
      ping: ajv.compile(await schema("ping")),
      info: ajv.compile(await schema("info")),
      stats: ajv.compile(await schema("stats")),
    };
    const check = (kind: keyof typeof valid, answer: unknown) =>
      assert.ok(valid[kind](answer), `${kind}: ${ajv.errorsText(valid[kind].errors)}`);
    // @nats-io/services 3.0.0-25 types a connection of its own nats-core (3.0.0-50): same wire.
    const connection = nc as unknown as ConstructorParameters<typeof Svcm>[0];
    const client = new Svcm(connection).client({ strategy: "timer", maxWait: 1000 });
    const ids = [...echoes, ...tallies].map((a) => a.id).sort();

    const pings = await all(await client.ping());
    pings.forEach((ping) => check("ping", ping));
    assert.deepEqual(pings.map((p) => p.id).sort(), ids);
    assert.ok(pings.every((p) => p.version === MESHWORK_VERSION));

    const infos = await all(await client.info());
    infos.forEach((info) => check("info", info));
    assert.deepEqual(infos.map((i) => i.id).sort(), ids);
    for (const info of infos.filter((i) => i.name === "Echo")) {
      assert.deepEqual(info.endpoints.map((e) => [e.name, e.subject, e.queue_group]), [
        ["generate", `mesh.srv_test.echo.generate.${info.id}`, "echo"],
        ["stream", `mesh.srv_test.echo.stream.${info.id}`, "echo"],
      ]);
    }

    const stats = await all(await client.stats("Echo"));
    stats.forEach((answer) => check("stats", answer));
    assert.deepEqual(stats.map((s) => s.id).sort(), echoes.map((a) => a.id).sort());
    for (const [i, actor] of echoes.entries()) {
      const answer = stats.find((s) => s.id === actor.id)!;
      const generate = answer.endpoints!.find((e) => e.name === "generate")!;
      const streamed = answer.endpoints!.find((e) => e.name === "stream")!;
      assert.equal(generate.num_requests, i === 0 ? 2 : i + 1);
      assert.equal(generate.num_errors, i === 0 ? 1 : 0);
      assert.equal(generate.last_error, i === 0 ? "asked to fail" : "");
      assert.ok(generate.processing_time > 0);
      assert.equal(streamed.num_requests, i === 0 ? 1 : 0);
    }

    // Our own asking side sees the same on the bus.
    const ours = await requestServiceStats(callerBus, { name: "Tally", timeoutMs: 500 });
    assert.deepEqual(ours.map((s) => s.id).sort(), tallies.map((a) => a.id).sort());
    ours.forEach((answer) => check("stats", answer));

    const [one, ...none] = await all(await client.ping("Echo", echoes[1]!.id));
    assert.equal(one?.id, echoes[1]!.id);
    assert.equal(none.length, 0);

    // A stopped instance is no longer listed.
    await echoes[2]!.stop(500);
    const after = await all(await client.ping("Echo"));
    assert.deepEqual(after.map((p) => p.id).sort(), [echoes[0]!.id, echoes[1]!.id].sort());
  } finally {
    await nc.close();
    await caller.shutdown(500);
    await server.shutdown(500);
    await callerBus.close();
    await serverBus.close();
    await registry.close();
  }
});
