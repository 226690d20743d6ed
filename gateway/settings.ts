/**
 * The gateway's settings. They live in the config section of the component the gateway fronts
 * (`http: true`, the seeds' Frontend); `serve` adds these fields to that component's schema, so
 * a component declares only its own.
 *
 * @module
 */

import {
  defineSchema,
  type FieldSpec,
  integer,
  string,
  stringList,
} from "../actors/config_schema.ts";

/** The fields of a schema. */
type SchemaFields = Record<string, FieldSpec>;

/** The gateway's config fields. */
export const GATEWAY_FIELDS = defineSchema({
  port: integer({ default: 8000, min: 0, max: 65535, doc: "HTTP port of the gateway (0: any)" }),
  host: string({ default: "0.0.0.0", doc: "Address the gateway listens on" }),
  max_body_bytes: integer({ default: 1_048_576, min: 1, doc: "Largest accepted request body" }),
  body_timeout_ms: integer({
    default: 10_000,
    min: 1,
    doc: "Time a client has to send its whole body (slow-loris guard)",
  }),
  request_timeout_ms: integer({ default: 60_000, min: 1, doc: "Deadline of each request" }),
  api_keys: stringList({
    default: [],
    doc: "Bearer keys the gateway accepts (also MESH_API_KEYS); none: no authentication",
  }),
}).fields;

/** The filled gateway settings. */
export interface GatewaySettings {
  port: number;
  host: string;
  max_body_bytes: number;
  body_timeout_ms: number;
  request_timeout_ms: number;
  api_keys: string[];
}

/** A component schema's fields with the gateway's added (the component's own win). */
export function withGatewayFields(fields: SchemaFields): SchemaFields {
  return { ...GATEWAY_FIELDS, ...fields };
}
