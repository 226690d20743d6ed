/**
 * The least-privilege Deno permissions of a mesh process: the network (planes and the gateway),
 * the environment (`NATS_SERVER`, `ETCD_ENDPOINTS`, and what the NATS and gRPC clients read),
 * reading files (the config and graph modules) and the hostname. Nothing else: no writes, no
 * subprocesses, no FFI.
 *
 * `deno.json` tasks, the compile task and the tests all use these flags; a unit test keeps them
 * in step.
 *
 * @module
 */

/** Flags for `deno run` / `deno compile`. */
export const MESH_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-sys=hostname,networkInterfaces,loadavg,systemMemoryInfo,cpus",
];

/**
 * `serve` may also start processes: `ServiceArgs.processes` runs instances as supervised child
 * processes. Only `serve` (and the all-in-one `meshwork` binary) gets `--allow-run`; a worker
 * never does. It cannot be narrowed to Deno's own path in advance (`--allow-run=deno` resolves
 * through `PATH`, which need not be the running binary), so it is unrestricted.
 */
export const SERVE_PERMISSIONS: readonly string[] = [...MESH_PERMISSIONS, "--allow-run"];
