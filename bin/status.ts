/**
 * `meshwork status`: lists the live instances in the registry (etcd), one line each.
 *
 * @module
 */

import { namespacePrefix } from "../protocol/names.ts";
import { connectEtcdRegistry } from "../planes/etcd/etcd_registry.ts";
import { readConfigFile } from "../configs/yaml_document.ts";
import { resolveConfig } from "../configs/resolve.ts";
import type { InstanceInfo } from "../router/instance_view.ts";

/** What `status` needs. */
export interface StatusSettings {
  configPath?: string;
  /** Only this namespace. Default: every namespace. */
  namespace?: string;
  env: Record<string, string | undefined>;
  /** Print JSON instead of a table. */
  json?: boolean;
}

/** Reads the registry and returns the report text. */
export async function status(settings: StatusSettings): Promise<string> {
  const doc = settings.configPath ? await readConfigFile(settings.configPath) : undefined;
  const config = doc
    ? resolveConfig(doc, {}, { env: settings.env })
    : resolveConfig({ file: "(environment)", sections: [] }, {}, { env: settings.env });
  if (!config.etcd) {
    throw new Error(
      "status reads the cluster registry: set ETCD_ENDPOINTS (or give --config with an etcd: key). " +
        "An embedded mesh lists its instances at GET /health instead",
    );
  }
  const registry = await connectEtcdRegistry({
    endpoints: config.etcd.endpoints,
    username: config.etcd.username,
    password: config.etcd.password,
    tls: config.etcd.tls,
  });
  try {
    const namespace = settings.namespace ?? doc?.namespace;
    const prefix = namespace ? namespacePrefix(namespace) : "mesh/";
    const { kvs } = await registry.getPrefix(prefix);
    const instances: InstanceInfo[] = [];
    for (const { value } of kvs) {
      try {
        instances.push(JSON.parse(value));
      } catch {
        // not an instance record
      }
    }
    if (settings.json) return JSON.stringify(instances, null, 2);
    if (instances.length === 0) return `No live instances under "${prefix}" at ${registry.address}`;
    const rows = [["NAMESPACE", "COMPONENT", "ENDPOINT", "INSTANCE", "HOST", "PID", "STARTED"]];
    for (const i of instances) {
      rows.push([
        i.namespace,
        i.component,
        i.endpoint,
        i.instance,
        i.hostname,
        String(i.pid),
        i.startedAt,
      ]);
    }
    const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
    return rows.map((row) => row.map((cell, col) => cell.padEnd(widths[col]!)).join("  ").trimEnd())
      .join("\n");
  } finally {
    await registry.close();
  }
}
