/**
 * The `work_queue` policy: nobody is picked; the request is stored in the endpoint's durable work
 * queue and whichever instance pulls it answers (`router/queue_call.ts`).
 *
 * @module
 */

import { RandomPolicy } from "./random.ts";

/**
 * The durable work queue (`viaWorkQueue`): the call submits the request to the queue of
 * `<namespace>.<component>.<endpoint>`, which the component's instances (served with
 * `ServiceArgs.queue: true`) pull from. The call does not wait for a live instance: a request
 * submitted while none runs waits in the queue, within its deadline. `pick()` is never consulted.
 */
export class WorkQueuePolicy extends RandomPolicy {
  override readonly name = "work_queue";
  readonly viaWorkQueue = true;
}
