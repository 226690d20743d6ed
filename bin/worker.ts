/**
 * The worker entrypoint, for `deno task worker` and the compiled `meshwork-worker` binary:
 * `meshwork worker` with the same arguments.
 *
 * @module
 */

import { main } from "../cli.ts";

if (import.meta.main) await main(["worker", ...Deno.args]);
