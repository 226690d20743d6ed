/**
 * `TcpDataPlane` passes the data-plane contract on loopback (each plane a separate holder on its
 * own port), plus what only the network plane has: advertised addresses, a holder that is gone,
 * a holder that never answers, size limits, a peer speaking garbage, and pooled connections.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DataProtocolError, HolderUnreachableError } from "../../planes/data_plane.ts";
import { TcpDataPlane } from "../../planes/tcp/tcp_data_plane.ts";
import { ManualClock } from "../../utils/clock.ts";
import { dataPlaneContract, pattern, pullFails, sameBytes } from "../data_plane_contract.ts";
import { within } from "../helpers/eventually.ts";

dataPlaneContract("TcpDataPlane", () => {
  const clock = new ManualClock(1_000);
  return Promise.resolve({
    clock,
    open: (options) =>
      Promise.resolve(
        new TcpDataPlane({
          hostname: "127.0.0.1",
          clock,
          secret: options?.secret,
          timeoutMs: 15_000,
        }),
      ),
    cleanup: () => Promise.resolve(),
  });
});

/** Runs `body` with planes it opens, closing them all afterwards. */
async function withPlanes(
  body: (
    open: (options?: ConstructorParameters<typeof TcpDataPlane>[0]) => TcpDataPlane,
  ) => Promise<void>,
): Promise<void> {
  const opened: TcpDataPlane[] = [];
  try {
    await body((options) => {
      const plane = new TcpDataPlane({ hostname: "127.0.0.1", ...options });
      opened.push(plane);
      return plane;
    });
  } finally {
    await Promise.all(opened.map((p) => p.close()));
  }
}

Deno.test("TcpDataPlane advertises its listening address, an advertise host, or a real IPv4 for 0.0.0.0", async () => {
  await withPlanes(async (open) => {
    const loopback = open();
    assert.match(loopback.address, /^127\.0\.0\.1:\d+$/);
    assert.equal(loopback.kind, "tcp");
    const named = open({ advertise: "worker-3.mesh.local" });
    assert.match(named.address, /^worker-3\.mesh\.local:\d+$/);
    const any = open({ hostname: "0.0.0.0" });
    const [host, port] = any.address.split(":");
    assert.notEqual(host, "0.0.0.0");
    const ipv4s = Deno.networkInterfaces()
      .filter((n) => n.family === "IPv4" && !n.address.startsWith("127."))
      .map((n) => n.address);
    assert.equal(host, ipv4s[0] ?? "127.0.0.1");
    // What it advertises is where it can be pulled from.
    const puller = open();
    assert.ok(sameBytes(await puller.pull(any.put(pattern(1000))), pattern(1000)));
    assert.ok(Number(port) > 0);
  });
});

Deno.test("TcpDataPlane: a holder that is gone is connection refused, naming its address", async () => {
  await withPlanes(async (open) => {
    const [holder, puller] = [open(), open()];
    const descriptor = holder.put(pattern(10));
    await holder.close();
    const error = await pullFails(puller, descriptor, HolderUnreachableError);
    assert.equal(
      error.message,
      `Cannot pull "${descriptor.key.slice(0, 8)}…" from ${holder.address}: connection refused`,
    );
  });
});

Deno.test("TcpDataPlane: a holder that never answers times out within the pull timeout", async () => {
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) accepted.push(conn);
  })();
  try {
    await withPlanes(async (open) => {
      const puller = open({ timeoutMs: 300 });
      const holder = `127.0.0.1:${(silent.addr as Deno.NetAddr).port}`;
      const started = performance.now();
      const error = await pullFails(
        puller,
        { holder, key: "cd".repeat(16), size: 5 },
        HolderUnreachableError,
      );
      assert.equal(error.message, `Cannot pull "cdcdcdcd…" from ${holder}: timed out after 300 ms`);
      assert.ok(performance.now() - started < 5_000);
    });
  } finally {
    silent.close();
    await accepting.catch(() => {});
    for (const conn of accepted) conn.close();
  }
});

Deno.test("TcpDataPlane: a payload over the puller's limit is refused and stays held", async () => {
  await withPlanes(async (open) => {
    const [holder, small, big] = [open(), open({ maxPullBytes: 1024 }), open()];
    const descriptor = holder.put(pattern(2048));
    const error = await pullFails(small, descriptor, DataProtocolError);
    assert.equal(
      error.message,
      `Cannot pull "${
        descriptor.key.slice(0, 8)
      }…" from ${holder.address}: the payload is 2048 bytes, over the puller's limit of 1024`,
    );
    assert.ok(sameBytes(await big.pull(descriptor), pattern(2048)));
  });
});

Deno.test("TcpDataPlane: a peer speaking garbage gets an error and the holder keeps serving", async () => {
  await withPlanes(async (open) => {
    const [holder, puller] = [open(), open()];
    const [hostname, port] = holder.address.split(":");
    const conn = await Deno.connect({ hostname: hostname!, port: Number(port) });
    try {
      await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      const chunks: Uint8Array[] = [];
      const buf = new Uint8Array(1024);
      for (;;) {
        const n = await within(conn.read(buf), "the holder's answer to garbage");
        if (n === null) break;
        chunks.push(buf.slice(0, n));
      }
      const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
      assert.match(text, /Bad data-plane request: not a data-plane request/);
    } finally {
      conn.close();
    }
    assert.equal(holder.stats().refusals, 1);
    assert.ok(sameBytes(await puller.pull(holder.put(pattern(77))), pattern(77)));
  });
});

Deno.test("TcpDataPlane: sequential pulls from one holder reuse one pooled connection", async () => {
  await withPlanes(async (open) => {
    const [holder, puller] = [open(), open()];
    for (let i = 0; i < 20; i++) {
      assert.ok(sameBytes(await puller.pull(holder.put(pattern(100_000, i))), pattern(100_000, i)));
    }
    assert.equal(holder.connectionsAccepted, 1);
  });
});

Deno.test("TcpDataPlane: a listen address in use is a clear error", async () => {
  await withPlanes((open) => {
    const first = open();
    const port = Number(first.address.split(":")[1]);
    assert.throws(
      () => open({ port }),
      (error: Error) =>
        error.message === `Cannot listen for the data plane on 127.0.0.1:${port}: address in use`,
    );
    return Promise.resolve();
  });
});

Deno.test("TcpDataPlane: aborting a pull in flight rejects with the reason; the puller goes on", async () => {
  await withPlanes(async (open) => {
    const [holder, puller] = [open(), open()];
    const controller = new AbortController();
    const pulling = puller.pull(holder.put(pattern(16 << 20)), { signal: controller.signal });
    queueMicrotask(() => controller.abort(new Error("client went away")));
    await assert.rejects(within(pulling, "the aborted pull"), /client went away/);
    assert.ok(sameBytes(await puller.pull(holder.put(pattern(4096, 2))), pattern(4096, 2)));
  });
});
