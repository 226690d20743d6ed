/**
 * The one failure the router retries without asking: a request that never reached a handler.
 *
 * @module
 */

/**
 * A request that never reached a handler: nobody was subscribed, or nobody acknowledged it in
 * time. Safe to try on another instance.
 */
export class NotDeliveredError extends Error {
  readonly reason: "no_responders" | "no_ack" | "instance_gone";
  constructor(reason: "no_responders" | "no_ack" | "instance_gone", instance?: string) {
    super(`Request not taken by instance "${instance ?? "?"}" (${reason.replace("_", " ")})`);
    this.name = "NotDeliveredError";
    this.reason = reason;
  }
}
