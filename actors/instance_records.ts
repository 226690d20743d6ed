/**
 * An instance's records in the registry (DESIGN.md §3): one per endpoint, registered once the
 * instance runs, marked `meta.draining` when a graceful stop begins (callers stop routing there,
 * and the deletion that follows does not fail the requests it is still finishing), then deleted.
 *
 * @module
 */

import type { InstanceInfo } from "../protocol/instance_info.ts";
import { type EndpointAddress, instanceKey } from "../protocol/names.ts";
import type { Logger } from "../utils/logger.ts";
import type { Registration } from "./registration.ts";

/** The registry records of one instance. */
export class InstanceRecords {
  #registration: Registration;
  #log: Logger;
  #keys: string[] = [];

  constructor(registration: Registration, log: Logger) {
    this.#registration = registration;
    this.#log = log;
  }

  /** Registers the record of one endpoint (kept registered by the lease keeper). */
  async register(address: EndpointAddress, info: InstanceInfo): Promise<void> {
    const key = instanceKey(address, info.instance);
    this.#keys.push(key);
    await this.#registration.register(key, JSON.stringify(info));
  }

  /** Marks every record `meta.draining` (before they are deleted); failures are logged. */
  async markDraining(): Promise<void> {
    for (const key of this.#keys) {
      const value = this.#registration.keys.get(key);
      if (value === undefined) continue;
      const info = JSON.parse(value) as InstanceInfo;
      const draining: InstanceInfo = { ...info, meta: { ...info.meta, draining: true } };
      await this.#registration.register(key, JSON.stringify(draining)).catch((error) =>
        this.#log.warn("Could not mark the instance draining", { key, error })
      );
    }
  }

  /** Deletes every record; one that cannot be deleted expires with the lease. */
  async deregisterAll(quiet = false): Promise<void> {
    for (const key of this.#keys) {
      await this.#registration.deregister(key).catch((error) => {
        if (!quiet) {
          this.#log.warn("Could not deregister; the key expires with the lease", { key, error });
        }
      });
    }
  }
}
