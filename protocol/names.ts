/**
 * Names, subjects and registry keys (DESIGN.md §3).
 *
 * A component is addressed `namespace/Component/endpoint`; every name matches `[A-Za-z0-9_-]+`.
 *
 * @module
 */

const NAME = /^[A-Za-z0-9_-]+$/;

/** The default endpoint of a component. */
export const DEFAULT_ENDPOINT = "generate";

/** Throws a `TypeError` naming the value unless `name` is a valid mesh name. */
export function validateName(name: string, what = "name"): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new TypeError(
      `Invalid ${what} ${JSON.stringify(name)}: use letters, digits, "_" and "-" only`,
    );
  }
  return name;
}

/** The address of one endpoint of a component. */
export interface EndpointAddress {
  namespace: string;
  component: string;
  endpoint: string;
}

/** Parses `namespace/Component[/endpoint]`, validating each part. */
export function parseAddress(text: string): EndpointAddress {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3) {
    throw new TypeError(
      `Invalid address ${JSON.stringify(text)}: expected "namespace/Component[/endpoint]"`,
    );
  }
  const [namespace = "", component = "", endpoint = DEFAULT_ENDPOINT] = parts;
  return {
    namespace: validateName(namespace, "namespace"),
    component: validateName(component, "component name"),
    endpoint: validateName(endpoint, "endpoint name"),
  };
}

/** `namespace/Component/endpoint`, for messages and logs. */
export function formatAddress(address: EndpointAddress): string {
  return `${address.namespace}/${address.component}/${address.endpoint}`;
}

/** The mailbox subject of one instance: `mesh.<ns>.<component>.<endpoint>.<instance>`. */
export function mailboxSubject(address: EndpointAddress, instance: string): string {
  return `${queueSubject(address)}.${instance}`;
}

/** The subject the whole component's queue group listens on: `mesh.<ns>.<component>.<endpoint>`. */
export function queueSubject(address: EndpointAddress): string {
  return `mesh.${address.namespace}.${address.component.toLowerCase()}.${address.endpoint}`;
}

/** The queue group name of a component. */
export function queueGroup(address: EndpointAddress): string {
  return address.component.toLowerCase();
}

/** The control subject of one instance: `mesh.<ns>.<component>.<instance>.ctl`. */
export function controlSubject(namespace: string, component: string, instance: string): string {
  return `mesh.${namespace}.${component.toLowerCase()}.${instance}.ctl`;
}

/** The registry prefix holding every instance of one endpoint (ends with `/`). */
export function instancePrefix(address: EndpointAddress): string {
  return `mesh/${address.namespace}/instances/${address.component}/${address.endpoint}/`;
}

/** The registry prefix holding every instance in a namespace (ends with `/`). */
export function namespacePrefix(namespace: string): string {
  return `mesh/${namespace}/instances/`;
}

/** The registry key of one instance. */
export function instanceKey(address: EndpointAddress, instance: string): string {
  return `${instancePrefix(address)}${instance}`;
}

/** A fresh instance id: 12 random hex characters. */
export function newInstanceId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  let id = "";
  for (const byte of bytes) id += byte.toString(16).padStart(2, "0");
  return id;
}
