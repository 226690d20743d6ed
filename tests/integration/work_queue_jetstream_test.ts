/**
 * `JetStreamWorkQueue` passes the work-queue contract against a real `nats-server -js` (one per
 * test, on a free port, with a temporary store directory), plus what only the server plane has:
 * a clear error when the server runs without JetStream, and queues that survive a restart.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connectJetStreamWorkQueue } from "../../planes/nats/jetstream_work_queue.ts";
import { silentLogger } from "../../utils/logger.ts";
import { bytes, JobCollector, workQueueContract } from "../work_queue_contract.ts";
import { startNatsServer } from "../helpers/nats_server.ts";

/** A `nats-server -js` with its store in a fresh temporary directory. */
async function startJetStreamServer() {
  const storeDir = await Deno.makeTempDir({ prefix: "meshq_js_" });
  try {
    const server = await startNatsServer({ args: ["-js", "-sd", storeDir] });
    return {
      server,
      stop: async () => {
        await server.stop();
        await Deno.remove(storeDir, { recursive: true });
      },
    };
  } catch (error) {
    await Deno.remove(storeDir, { recursive: true });
    throw error;
  }
}

workQueueContract("JetStreamWorkQueue", async () => {
  const { server, stop } = await startJetStreamServer();
  return {
    open: () => connectJetStreamWorkQueue({ servers: server.url, logger: silentLogger }),
    // Real time: the server's ack-wait timers run on their own.
    passTime: (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
    ackWaitMs: 1000,
    cleanup: stop,
    output: () => server.output(),
  };
});

Deno.test("connectJetStreamWorkQueue() says to start nats-server with -js when JetStream is off", async () => {
  await using server = await startNatsServer();
  await assert.rejects(
    connectJetStreamWorkQueue({ servers: server.url, logger: silentLogger }),
    (error: Error) => {
      assert.equal(
        error.message,
        `Cannot use the work queue: JetStream is not enabled on nats://127.0.0.1:${server.port} ` +
          "(start nats-server with -js)",
      );
      assert.ok(error.cause instanceof Error);
      return true;
    },
  );
});

Deno.test("JetStreamWorkQueue keeps submitted jobs across a server restart", async () => {
  const { server, stop } = await startJetStreamServer();
  try {
    const before = await connectJetStreamWorkQueue({ servers: server.url, logger: silentLogger });
    const q = await before.queue("restart.jobs");
    await q.submit("kept", bytes("durable"), { "Mesh-Reply": "r.1" });
    await before.close();
    await server.restart();
    const after = await connectJetStreamWorkQueue({ servers: server.url, logger: silentLogger });
    try {
      const again = await after.queue("restart.jobs");
      assert.equal(await again.pending(), 1);
      const got = new JobCollector();
      again.consume({ maxInflight: 1, onJob: got.handler((j) => j.ack()) });
      const [job] = await got.waitFor(1);
      assert.equal(job!.id, "kept");
      assert.deepEqual(job!.headers, { "Mesh-Reply": "r.1" });
    } finally {
      await after.close();
    }
  } catch (error) {
    console.error(server.output());
    throw error;
  } finally {
    await stop();
  }
});
