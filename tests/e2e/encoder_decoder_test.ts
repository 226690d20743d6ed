/**
 * Seed 002's deployment from the command line: `serve --config configs/encoder_decoder.yaml` runs
 * `encoder.0`, `decoder.0` and `encoder_decoder.0` as child processes on real NATS and etcd, each
 * with its own metrics port and log file, and `deno task client --tensor` gets every tensor back;
 * `--initialize-request-plane` starts its own nats-server and etcd and stops them on SIGINT.
 */

import assert from "node:assert/strict";
import { startEtcd } from "../helpers/etcd_server.ts";
import { startNatsServer } from "../helpers/nats_server.ts";
import { pidAlive as alive, spawnMesh } from "../helpers/mesh_process.ts";
import { freePort, freePortRun } from "../helpers/free_port.ts";
import { runClient } from "../helpers/client_process.ts";

Deno.test("serve runs encoder.0, decoder.0, encoder_decoder.0 as processes with ports and logs; the client gets every tensor back", async () => {
  const logDir = await Deno.makeTempDir({ prefix: "meshwork-ed-logs-" });
  await using nats = await startNatsServer({ args: ["-js", "-sd", `${logDir}/jetstream`] });
  await using etcd = await startEtcd();
  const base = freePortRun(3);
  const http = await freePort();
  try {
    await using serve = spawnMesh([
      "serve",
      "--config",
      "configs/encoder_decoder.yaml",
      "--log-dir",
      logDir,
      "--metrics-port-base",
      String(base),
      `--encoder_decoder.port=${http}`,
    ], { env: { NATS_SERVER: nats.url, ETCD_ENDPOINTS: etcd.endpoint } });
    await serve.waitForOutput(/^Workers started \.\.\. press Ctrl-C to Exit$/m, 60_000);

    const names = ["encoder.0", "decoder.0", "encoder_decoder.0"];
    names.forEach((name, i) => {
      const line = new RegExp(
        `^Starting worker ${name.replace(".", "\\.")} \\(child process, metrics port ${
          base + i
        }, ` +
          `log ${logDir}/${name.replace(".", "\\.")}\\.log\\)$`,
        "m",
      );
      assert.match(serve.output(), line);
    });
    assert.match(serve.output(), /^ {2}config: {6}\{"input_copies":1,"delay":0\}$/m);

    const client = await runClient([
      "--tensor",
      "--url",
      `http://127.0.0.1:${http}/generate`,
      "--size",
      "4096",
    ]);
    assert.equal(client.code, 0, client.stdout + client.stderr);
    assert.match(client.stdout, /answers {6}100 ok, 0 failed/);
    assert.match(client.stdout, /^Throughput: [\d.]+ Total Time: [\d.]+$/m);

    // Each worker process: its own metrics port and its own log file.
    for (const [i, name] of names.entries()) {
      const metrics = await fetch(`http://127.0.0.1:${base + i}/metrics`, {
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(metrics.status, 200);
      assert.match(
        await metrics.text(),
        new RegExp(`mesh_instances\\{component="${name.split(".")[0]}"\\} 1`),
      );
      const log = await Deno.readTextFile(`${logDir}/${name}.log`);
      assert.match(log, /Meshwork serving encoder_decoder/, `${name}.log`);
    }

    serve.kill("SIGINT");
    assert.equal((await serve.status).code, 0, serve.output());
  } finally {
    await Deno.remove(logDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("--initialize-request-plane starts nats-server and etcd itself and stops them on SIGINT", async () => {
  const logDir = await Deno.makeTempDir({ prefix: "meshwork-ed-planes-" });
  const http = await freePort();
  try {
    await using serve = spawnMesh([
      "serve",
      "--config",
      "configs/encoder_decoder.yaml",
      "--initialize-request-plane",
      "--log-dir",
      logDir,
      "--metrics-port-base",
      String(freePortRun(3)),
      `--encoder_decoder.port=${http}`,
    ], { env: { NATS_SERVER: "", ETCD_ENDPOINTS: "" } });
    await serve.waitForOutput(/^Workers started \.\.\. press Ctrl-C to Exit$/m, 60_000);
    const started =
      /^Request plane started: nats-server pid (\d+) at (nats:\/\/127\.0\.0\.1:\d+), etcd pid (\d+) at (http:\/\/127\.0\.0\.1:\d+)/m
        .exec(serve.output());
    assert.ok(started, serve.output());
    const [natsPid, etcdPid] = [Number(started[1]), Number(started[3])];
    assert.ok(alive(natsPid) && alive(etcdPid));
    assert.match(
      serve.output(),
      new RegExp(`cluster planes \\(NATS ${started[2]}, etcd ${started[4]}\\)`),
    );

    const client = await runClient([
      "--tensor",
      "--url",
      `http://127.0.0.1:${http}/generate`,
      "--requests",
      "20",
    ]);
    assert.equal(client.code, 0, client.stdout + client.stderr);
    assert.match(client.stdout, /^Throughput: /m);

    serve.kill("SIGINT");
    assert.equal((await serve.status).code, 0, serve.output());
    assert.ok(!alive(natsPid), `nats-server ${natsPid} still running`);
    assert.ok(!alive(etcdPid), `etcd ${etcdPid} still running`);
    for (const file of ["nats-server.log", "etcd.log", "encoder.0.log"]) {
      assert.ok((await Deno.stat(`${logDir}/${file}`)).isFile, file);
    }
  } finally {
    await Deno.remove(logDir, { recursive: true }).catch(() => {});
  }
});
