/**
 * The registry record of one running instance (DESIGN.md §3): what an actor registers under its
 * key and what a router's instance view reads back.
 *
 * @module
 */

/**
 * What an instance registers (the registry value): its address, mailbox subject, host and
 * process, start time, version, and free-form `meta` (`resumable`, `draining`).
 */
export interface InstanceInfo {
  namespace: string;
  component: string;
  endpoint: string;
  instance: string;
  subject: string;
  hostname: string;
  pid: number;
  startedAt: string;
  version: string;
  meta: Record<string, unknown>;
}
