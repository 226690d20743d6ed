/**
 * The hello-world multinode graph of seed 000: Frontend → Processor → Worker(s).
 *
 * @module
 */

import { graph } from "../../actors/component.ts";
import { Frontend } from "./frontend.ts";
import { Processor } from "./processor.ts";
import { Worker } from "./worker.ts";

export { Frontend, Processor, Worker };

/** The graph that `configs/one_worker.yaml` and `configs/multi_worker.yaml` deploy. */
export default graph("hello_world", [Frontend, Processor, Worker]);
