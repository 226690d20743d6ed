/**
 * The floor of a mesh worker, for `deno task bench --scenarios floor`: one hello-world Worker
 * instance that registers in etcd like a real one (under a lease it keeps alive) and answers every
 * request on its mailbox with the same `final` frame, written once at start, without reading the
 * request: no envelope decoded, no JSON, no handler, no request tracking. The frame holds the
 * answer the real Worker gives to the bench's body (`load.ts`), so the front does the same work.
 * What the mesh costs over the bare chain with these workers is what the front, the wire and the
 * registry cost, whatever a worker does. Needs `NATS_SERVER` and `ETCD_ENDPOINTS`; prints `ready`.
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { connectEtcdRegistry } from "../../planes/etcd/etcd_registry.ts";
import {
  controlSubject,
  type EndpointAddress,
  instanceKey,
  mailboxSubject,
  newInstanceId,
} from "../../protocol/names.ts";
import type { InstanceInfo } from "../../protocol/instance_info.ts";
import { encodeFrame, encodeJson } from "../../protocol/wire.ts";
import { BODY } from "./load.ts";

const LEASE_TTL_S = 10;

const address: EndpointAddress = {
  namespace: "hello_world",
  component: "Worker",
  endpoint: "generate",
};
const instance = newInstanceId();
const hostname = Deno.hostname();
const { prompt } = JSON.parse(BODY) as { prompt: string };
// The Processor passes the prompt on with its own suffix; the Worker adds its own.
const answer = `${prompt}_ProcessedBy_${hostname}_GeneratedBy_${hostname}`;
const frame = encodeFrame(0, "final", instance, encodeJson(answer)).slice();

const nc = await connect({ servers: Deno.env.get("NATS_SERVER") ?? "nats://127.0.0.1:4222" });
nc.subscribe(mailboxSubject(address, instance), {
  callback: (error, msg) => {
    if (!error) msg.respond(frame);
  },
});
// Probes of quiet calls are answered with an empty message, as an actor does.
nc.subscribe(controlSubject(address.namespace, address.component, instance), {
  callback: (error, msg) => {
    if (!error && msg.reply) msg.respond(new Uint8Array(0));
  },
});
await nc.flush();

const registry = await connectEtcdRegistry({
  endpoints: Deno.env.get("ETCD_ENDPOINTS") ?? "http://127.0.0.1:2379",
});
const lease = await registry.grantLease(LEASE_TTL_S);
const info: InstanceInfo = {
  ...address,
  instance,
  subject: mailboxSubject(address, instance),
  hostname,
  pid: Deno.pid,
  startedAt: new Date().toISOString(),
  version: "floor",
  meta: {},
};
await registry.put(instanceKey(address, instance), JSON.stringify(info), lease);
const keepAlive = setInterval(() => void registry.keepAlive(lease), (LEASE_TTL_S * 1000) / 3);
console.error(`floor worker ${instance} ready`);

Deno.addSignalListener("SIGTERM", async () => {
  clearInterval(keepAlive);
  await registry.revokeLease(lease).catch(() => {});
  await registry.close();
  await nc.drain().catch(() => {});
  Deno.exit(0);
});
