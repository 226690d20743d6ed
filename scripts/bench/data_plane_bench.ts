/**
 * Data-plane throughput: pulls of 1, 16 and 64 MiB between two `TcpDataPlane`s on loopback,
 * against a bare TCP copy of the same bytes between two endpoints in the same process (a
 * listener that writes the payload after an 8-byte request, a client that reads it into one
 * preallocated buffer). Runs interleave A B B A so drift hits both sides alike; prints MB/s
 * (median of the runs) and the ratio. Goal: ≥ 0.7× bare at 16 MiB and above.
 *
 *     deno run --allow-net scripts/bench/data_plane_bench.ts [--rounds 6] [--json]
 *
 * @module
 */

import { TcpDataPlane } from "../../planes/tcp/tcp_data_plane.ts";

const SIZES_MIB = [1, 16, 64];
const args = Deno.args;
const rounds = Number(args[args.indexOf("--rounds") + 1] ?? 6) || 6;
const json = args.includes("--json");

/** Bytes moved per pull and how many pulls make one run, per size. */
function pullsPerRun(mib: number): number {
  return Math.max(2, Math.round(256 / mib));
}

/** A bare TCP server and client moving `payload` with the same socket calls as the plane. */
async function bareCopier(payload: Uint8Array) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      conn.setNoDelay(true);
      (async () => {
        const req = new Uint8Array(8);
        try {
          while (await readFull(conn, req)) {
            const head = new Uint8Array(8);
            new DataView(head.buffer).setBigUint64(0, BigInt(payload.length));
            await writeFull(conn, head);
            await writeFull(conn, payload);
          }
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  client.setNoDelay(true);
  return {
    async pull(): Promise<Uint8Array> {
      await writeFull(client, new Uint8Array(8));
      const head = new Uint8Array(8);
      await readFull(client, head);
      const bytes = new Uint8Array(Number(new DataView(head.buffer).getBigUint64(0)));
      await readFull(client, bytes);
      return bytes;
    },
    async close() {
      client.close();
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving;
    },
  };
}

async function readFull(conn: Deno.Conn, buffer: Uint8Array): Promise<boolean> {
  let offset = 0;
  while (offset < buffer.length) {
    const n = await conn.read(buffer.subarray(offset));
    if (n === null) return false;
    offset += n;
  }
  return true;
}

async function writeFull(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function timeRun(
  n: number,
  bytesEach: number,
  pull: () => Promise<unknown>,
): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < n; i++) await pull();
  const seconds = (performance.now() - started) / 1000;
  return (n * bytesEach) / 1e6 / seconds;
}

const holder = new TcpDataPlane({ hostname: "127.0.0.1" });
const puller = new TcpDataPlane({ hostname: "127.0.0.1" });
const results: { mib: number; planeMBs: number; bareMBs: number; ratio: number }[] = [];
try {
  for (const mib of SIZES_MIB) {
    const payload = new Uint8Array(mib << 20).map((_, i) => (i * 7) & 0xff);
    const bare = await bareCopier(payload);
    const n = pullsPerRun(mib);
    const plane = () => puller.pull(holder.put(payload));
    await timeRun(2, payload.length, plane); // warm up both
    await timeRun(2, payload.length, bare.pull);
    const planeRuns: number[] = [];
    const bareRuns: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ["plane", "bare"] : ["bare", "plane"];
      for (const side of order) {
        if (side === "plane") planeRuns.push(await timeRun(n, payload.length, plane));
        else bareRuns.push(await timeRun(n, payload.length, bare.pull));
      }
    }
    await bare.close();
    const [planeMBs, bareMBs] = [median(planeRuns), median(bareRuns)];
    results.push({ mib, planeMBs, bareMBs, ratio: planeMBs / bareMBs });
  }
} finally {
  await Promise.all([holder.close(), puller.close()]);
}

if (json) console.log(JSON.stringify(results, null, 2));
else {
  console.log("size      data plane     bare TCP    ratio");
  for (const r of results) {
    console.log(
      `${String(r.mib).padStart(3)} MiB  ${r.planeMBs.toFixed(0).padStart(8)} MB/s ${
        r.bareMBs.toFixed(0).padStart(8)
      } MB/s   ${r.ratio.toFixed(2)}×`,
    );
  }
}
