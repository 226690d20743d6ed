/**
 * `NatsBus` passes the bus contract against a real `nats-server` (one per test, on a free port),
 * plus what only a network plane has: connection failures, address forms and reconnects.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BusClosedError, type BusStatus } from "../../planes/bus.ts";
import { silentLogger } from "../../utils/logger.ts";
import { connectNatsBus } from "../../planes/nats/connect.ts";
import { busContract, bytes, Collector } from "../bus_contract.ts";
import { within } from "../helpers/eventually.ts";
import { startNatsServer } from "../helpers/nats_server.ts";

busContract("NatsBus", async () => {
  const server = await startNatsServer();
  return {
    bus: () => connectNatsBus({ servers: server.url, logger: silentLogger }),
    cleanup: () => server.stop(),
    output: () => server.output(),
  };
});

Deno.test("connectNatsBus() fails fast with a clear message when nothing listens", async () => {
  // Learn a port that is free: start a server, note its port, stop it.
  const server = await startNatsServer();
  const port = server.port;
  await server.stop();
  const started = performance.now();
  await assert.rejects(
    connectNatsBus({ servers: `127.0.0.1:${port}`, timeoutMs: 2000, logger: silentLogger }),
    (error: Error) => {
      assert.equal(error.constructor, Error);
      assert.equal(
        error.message,
        `Cannot connect to NATS at nats://127.0.0.1:${port}: connection refused`,
      );
      assert.ok(error.cause instanceof Error);
      return true;
    },
  );
  assert.ok(performance.now() - started < 2000, "connect failed fast");
});

Deno.test("connectNatsBus() names the reason when the server refuses the credentials", async () => {
  await using server = await startNatsServer({ args: ["--user", "mesh", "--pass", "s3cret"] });
  // The server closes the socket right after its -ERR; under Deno the read error that follows
  // used to escape nats.js as an uncaught ECONNRESET now and then (1 to 20 attempts in 100). A
  // hundred attempts make a regression all but certain to show.
  for (let attempt = 0; attempt < 100; attempt++) {
    await assert.rejects(
      connectNatsBus({ servers: server.url, user: "mesh", pass: "wrong", logger: silentLogger }),
      (error: Error) => {
        assert.equal(
          error.message,
          `Cannot connect to NATS at nats://127.0.0.1:${server.port}: Authorization Violation`,
        );
        return true;
      },
    );
  }
  const bus = await connectNatsBus({
    servers: server.url,
    user: "mesh",
    pass: "s3cret",
    logger: silentLogger,
  });
  await bus.close();
});

Deno.test("connectNatsBus() accepts a bare host:port and reports a nats:// address", async () => {
  await using server = await startNatsServer();
  const bus = await connectNatsBus({ servers: `127.0.0.1:${server.port}`, logger: silentLogger });
  try {
    assert.equal(bus.kind, "nats");
    assert.equal(bus.address, `nats://127.0.0.1:${server.port}`);
    const got = new Collector();
    bus.subscribe("self", got.handler);
    bus.publish("self", bytes("hi"));
    await got.waitFor(1);
  } finally {
    await bus.close();
  }
});

Deno.test("connectNatsBus() rejects a malformed server address with a TypeError", async () => {
  await assert.rejects(connectNatsBus({ servers: "" }), TypeError);
  await assert.rejects(connectNatsBus({ servers: "nats://:4222" }), TypeError);
});

Deno.test("NatsBus reports disconnected, reconnecting, reconnected across a server restart, and subscriptions survive", async () => {
  await using server = await startNatsServer();
  const [a, b] = await Promise.all([
    connectNatsBus({ servers: server.url, logger: silentLogger }),
    connectNatsBus({ servers: server.url, logger: silentLogger }),
  ]);
  try {
    const statuses: BusStatus[] = [];
    const reconnected = Promise.withResolvers<void>();
    a.onStatus((s) => {
      statuses.push(s);
      if (s === "reconnected") reconnected.resolve();
    });
    const bReconnected = Promise.withResolvers<void>();
    b.onStatus((s) => s === "reconnected" && bReconnected.resolve());
    const got = new Collector();
    b.subscribe("survives", got.handler);
    await b.flush();
    await server.restart();
    await within(Promise.all([reconnected.promise, bReconnected.promise]), "reconnects");
    await b.flush();
    a.publish("survives", bytes("after restart"));
    await got.waitFor(1);
    assert.deepEqual(statuses, ["disconnected", "reconnecting", "reconnected"]);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("NatsBus close() while the server is down stops reconnecting and reports closed", async () => {
  await using server = await startNatsServer();
  const bus = await connectNatsBus({ servers: server.url, logger: silentLogger });
  const statuses: BusStatus[] = [];
  const reconnecting = Promise.withResolvers<void>();
  bus.onStatus((s) => {
    statuses.push(s);
    if (s === "reconnecting") reconnecting.resolve();
  });
  await server.stop();
  await within(reconnecting.promise, "a reconnect attempt");
  await within(bus.close(), "close()");
  assert.deepEqual(statuses, ["disconnected", "reconnecting", "closed"]);
  assert.throws(() => bus.publish("x", bytes("late")), BusClosedError);
});
