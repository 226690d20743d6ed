/**
 * The data plane wired into the mesh on real servers: a `nats-server -js` (its store in a
 * temporary directory) and etcd per case, and three runtimes in this process on their own
 * connections, each with its own `TcpDataPlane` on loopback, made by the planes preset as
 * `serve` makes them (`tests/data_plane_mesh_cases.ts`). A 64 MiB tensor makes the round trip
 * encoder_decoder → encoder → decoder (NATS' payload limit is 1 MiB, so the bytes cannot have
 * crossed NATS): the encoder pulls it from the caller's process, the decoder pulls the encoder's
 * output (two copies, 128 MiB) straight from the encoder, and the encoder_decoder's counters show
 * it pulled only the 64 MiB answer. Plus: a shared secret (`data_plane.secret`) is presented and
 * required across processes.
 */

import assert from "node:assert/strict";
import { component } from "../../actors/component.ts";
import { MeshError } from "../../protocol/errors.ts";
import { connectPlanes, type DataPlaneSettings, type Planes } from "../../runtime/planes_preset.ts";
import { Runtime } from "../../runtime/runtime.ts";
import { silentLogger } from "../../utils/logger.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { freePort } from "../helpers/free_port.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { type DataCluster, dataPlaneMeshCases } from "../data_plane_mesh_cases.ts";

async function cluster(
  dataPlane: (hostname: string) => DataPlaneSettings = () => ({ host: "127.0.0.1" }),
): Promise<DataCluster> {
  const storeDir = await Deno.makeTempDir({ prefix: "meshdp_mesh_" });
  const nats = await startNatsServer({ args: ["-js", "-sd", storeDir] });
  const etcd = await startEtcd();
  const opened: { runtime: Runtime; planes: Planes }[] = [];
  return {
    runtime: async (hostname: string) => {
      const planes = await connectPlanes({
        nats: { servers: [nats.url] },
        etcd: { endpoints: [etcd.endpoint] },
        logger: silentLogger,
        dataPlane: dataPlane(hostname),
      });
      const runtime = new Runtime({
        bus: planes.bus,
        registry: planes.registry,
        namespace: "dp",
        hostname,
        workQueue: planes.workQueue,
        dataPlane: planes.dataPlane,
      });
      opened.push({ runtime, planes });
      return runtime;
    },
    deadHolder: async () => `127.0.0.1:${await freePort()}`,
    async [Symbol.asyncDispose]() {
      for (const { runtime, planes } of opened.reverse()) {
        await runtime.shutdown(100);
        await planes.close();
      }
      await etcd[Symbol.asyncDispose]();
      await nats.stop();
      await Deno.remove(storeDir, { recursive: true });
    },
  };
}

dataPlaneMeshCases("nats+etcd+tcp", () => cluster(), {
  largeBytes: 64 * 1024 * 1024,
  timeoutMs: 60_000,
});

Deno.test("nats+etcd+tcp: the data plane is TCP on data_plane.host, one per process", async () => {
  await using c = await cluster();
  const runtime = await c.runtime("node1");
  const plane = runtime.dataPlane();
  assert.equal(plane.kind, "tcp");
  assert.match(plane.address, /^127\.0\.0\.1:\d+$/);
  assert.equal(runtime.dataPlane(), plane);
});

Deno.test("nats+etcd+tcp: with data_plane.secret, pulls present it; a process without it is refused", async () => {
  const secrets: Record<string, string | undefined> = { a: "s3cret", b: "s3cret", c: undefined };
  await using c = await cluster((host) => ({ host: "127.0.0.1", secret: secrets[host] }));
  const [a, b, outsider] = [await c.runtime("a"), await c.runtime("b"), await c.runtime("c")];
  const Reader = component({
    name: "Reader",
    endpoints: {
      async generate(request: { descriptor: never }, ctx) {
        return (await ctx.data.pull(request.descriptor)).byteLength;
      },
    },
  });
  await b.serve(Reader);
  await outsider.serve(component({ ...Reader, name: "Outsider" }));
  const call = async (runtime: Runtime, target: string, body: unknown) => {
    const chunks: unknown[] = [];
    for await (const chunk of runtime.client(target).generate(body)) chunks.push(chunk);
    return chunks;
  };
  const descriptor = a.dataPlane().put(new Uint8Array(300_000));
  assert.deepEqual(await call(a, "Reader", { descriptor }), [300_000]);
  const other = a.dataPlane().put(new Uint8Array(10));
  await assert.rejects(call(a, "Outsider", { descriptor: other }), (error: unknown) => {
    assert.ok(error instanceof MeshError);
    assert.equal(error.code, "internal");
    assert.match(error.message, new RegExp(`from ${a.dataPlane().address}: refused`));
    return true;
  });
  assert.equal(a.dataPlane().stats().refusals, 1);
});
