/**
 * The gateway's live page in a real browser: nats-server and etcd, the gateway and Processor in
 * one process, four Workers in two more (two hosts), load through the gateway in the background,
 * and Debian's `chromium` (headless, driven by playwright-core) on `/dashboard`. Every instance
 * the registry lists must show up with a non-zero rate; the page is saved as
 * `test-artifacts/dashboard.png`. A few bad requests in the load show up as recent errors. When
 * the gateway stops, the page says it is disconnected
 * (`test-artifacts/dashboard_disconnected.png`).
 */

import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { connectEtcdRegistry } from "../../planes/etcd/etcd_registry.ts";
import { namespacePrefix } from "../../protocol/names.ts";
import type { InstanceInfo } from "../../protocol/instance_info.ts";
import type { Registry } from "../../planes/registry.ts";
import { requireBinary } from "../helpers/binaries.ts";
import { startEtcd } from "../helpers/etcd_server.ts";
import { eventually } from "../helpers/eventually.ts";
import { freePort } from "../helpers/free_port.ts";
import { spawnMesh } from "../helpers/mesh_process.ts";
import { startNatsServer } from "../helpers/nats_server.ts";

const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url).pathname;

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The live instances of the namespace, by id, as the registry lists them. */
async function liveInstances(registry: Registry): Promise<Map<string, InstanceInfo>> {
  const { kvs } = await registry.getPrefix(namespacePrefix("hello_world"));
  const instances = new Map<string, InstanceInfo>();
  for (const { value } of kvs) {
    const info = JSON.parse(value) as InstanceInfo;
    instances.set(info.instance, info);
  }
  return instances;
}

/**
 * Bounded load through the gateway: `concurrency` loops until stopped, a count or a time. Every
 * `badEvery`-th request has a number for a prompt (a 400, an error in the instance's stats).
 */
function startLoad(
  port: number,
  limits: { concurrency: number; requests: number; ms: number; badEvery: number },
) {
  const counts = { ok: 0, rejected: 0, failed: 0, statuses: new Set<number>() };
  const stopAt = Date.now() + limits.ms;
  let stopped = false;
  let sent = 0;
  const loop = async () => {
    while (!stopped && sent < limits.requests && Date.now() < stopAt) {
      const bad = ++sent % limits.badEvery === 0;
      try {
        const res = await fetch(`http://127.0.0.1:${port}/generate`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ prompt: bad ? 42 : "dashboard", request_id: `r${sent}` }),
        });
        await res.body?.cancel();
        if (res.ok && !bad) counts.ok++;
        else if (res.status === 400 && bad) counts.rejected++;
        else (counts.failed++, counts.statuses.add(res.status));
      } catch {
        counts.failed++;
        counts.statuses.add(0);
      }
    }
  };
  const loops = Promise.all(Array.from({ length: limits.concurrency }, loop));
  return {
    async stop() {
      stopped = true;
      await loops;
      return counts;
    },
  };
}

/** `data-rate` of every instance row on the page, by instance id. */
const RATES_ON_PAGE = `Object.fromEntries([...document.querySelectorAll("tr[data-instance]")]
  .map((row) => [row.dataset.instance, Number(row.dataset.rate)]))`;

Deno.test({
  name: "/dashboard in headless Chromium shows every live instance with a non-zero rate under load",
  // playwright-core keeps a few process handles of its own until its module is unloaded.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const executablePath = requireBinary("chromium");
    await using nats = await startNatsServer();
    await using etcd = await startEtcd();
    const registry = await connectEtcdRegistry({ endpoints: etcd.endpoint });
    const env = { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint };
    const port = await freePort();
    try {
      await using front = spawnMesh([
        "serve",
        "--config",
        "configs/multi_worker.yaml",
        "--only",
        "Frontend,Processor",
        `--Frontend.port=${port}`,
        "--Processor.min_workers=4",
      ], { env: { ...env, MESH_HOSTNAME: "node1" } });
      await using _node2 = spawnMesh(["worker", "--instances", "2"], {
        env: { ...env, MESH_HOSTNAME: "node2" },
      });
      await using _node3 = spawnMesh(["worker", "--instances", "2"], {
        env: { ...env, MESH_HOSTNAME: "node3" },
      });
      let live = new Map<string, InstanceInfo>();
      await eventually("six instances registered", async () => {
        live = await liveInstances(registry);
        return live.size === 6;
      }, { timeoutMs: 40_000, intervalMs: 250 }).catch((error) => {
        throw new Error(`${error.message}\n${front.output()}`);
      });
      await eventually("the gateway is ready", async () => {
        const res = await fetch(`http://127.0.0.1:${port}/ready`).catch(() => undefined);
        await res?.body?.cancel();
        return res?.status === 200;
      }, { timeoutMs: 10_000, intervalMs: 100 });
      const components = [...live.values()].map((i) => i.component).sort();
      assert.deepEqual(
        components,
        ["Frontend", "Processor", "Worker", "Worker", "Worker", "Worker"],
        front.output(),
      );

      const load = startLoad(port, { concurrency: 4, requests: 50_000, ms: 45_000, badEvery: 500 });
      const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
        const pageErrors: string[] = [];
        page.on("pageerror", (error) => pageErrors.push(String(error)));
        await page.goto(`http://127.0.0.1:${port}/dashboard`);

        let rates: Record<string, number> = {};
        await eventually(
          "every live instance on the page with data-rate > 0",
          async () => {
            rates = await page.evaluate(RATES_ON_PAGE) as Record<string, number>;
            return [...live.keys()].every((id) => rates[id]! > 0);
          },
          { timeoutMs: 20_000, intervalMs: 250 },
        ).catch((error) => {
          throw new Error(`${error.message}; page rates ${JSON.stringify(rates)}`);
        });
        assert.deepEqual(Object.keys(rates).sort(), [...live.keys()].sort(), "no one else");
        for (const [id, info] of live) {
          const host = await page.getAttribute(`tr[data-instance="${id}"]`, "data-component");
          assert.equal(host, info.component);
          const card = page.locator(`[data-host="${info.hostname}"] tr[data-instance="${id}"]`);
          assert.equal(await card.count(), 1, `${id} in the card of ${info.hostname}`);
        }
        assert.equal(await page.getAttribute("body", "data-connection"), "live");
        // The bad requests show up as recent errors of the Frontend, which rejects them.
        const frontend = [...live.values()].find((i) => i.component === "Frontend")!.instance;
        await page.waitForSelector(`#errors tr[data-error="${frontend}"]`, { timeout: 10_000 });
        assert.match(await page.textContent("#errors tbody") ?? "", /must be a string/);
        await Deno.mkdir(ARTIFACTS, { recursive: true });
        await page.waitForTimeout(2_500); // a few more polls, for sparklines in the picture
        await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });

        const counts = await load.stop();
        assert.ok(counts.ok > 0 && counts.rejected > 0, `load went through: ${counts.ok}`);
        assert.equal(counts.failed, 0, `failed statuses: ${[...counts.statuses].join(", ")}`);

        // The gateway goes away: the page says so.
        front.kill("SIGTERM");
        await front.status;
        await page.waitForSelector('body[data-connection="disconnected"]', { timeout: 10_000 });
        assert.match(await page.textContent("#banner") ?? "", /Disconnected/);
        await page.screenshot({ path: `${ARTIFACTS}dashboard_disconnected.png` });
        assert.deepEqual(pageErrors, []);
        console.log(`dashboard: ${counts.ok} requests; screenshots in ${ARTIFACTS}`);
      } finally {
        await load.stop();
        await browser.close();
      }
    } finally {
      await registry.close();
    }
  },
});
