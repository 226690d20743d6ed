/**
 * The `queue` policy: nobody is picked; the request goes to the component's queue group.
 *
 * @module
 */

import { RandomPolicy } from "./random.ts";

/**
 * The queue group: the request goes to the component's queue subject and whichever instance takes
 * it first answers (`viaQueueGroup`). Its random `pick()` only tells the client that an instance
 * is live.
 */
export class QueuePolicy extends RandomPolicy {
  override readonly name = "queue";
  readonly viaQueueGroup = true;
}
