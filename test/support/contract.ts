// The published contract's schemas, as the agreement tests compare them with ours. The OpenAPI document lives
// outside this repository (../shared/api-reference), which a CI checkout may not have, so the tests read a
// fixture holding only the schemas' constraints (types, enums, bounds, required, defaults, $refs), with the
// reference's prose (titles, descriptions, examples) left out. `npm run contract:fixture` rewrites it from the
// document; test/contract/fixture.test.ts fails when the two disagree while the document is present.
import { existsSync, readFileSync } from 'node:fs';

export type Schemas = Record<string, any>;

export const PUBLISHED_DOCUMENT = new URL('../../../shared/api-reference/openapi/claid-openapi-full.json', import.meta.url);
export const FIXTURE = new URL('../fixtures/contract/schemas.json', import.meta.url);

const PROSE = new Set(['title', 'description', 'example', 'examples']);

/** A schema without its prose keywords. Keys of `properties` are field names, never dropped. */
export function constraintsOnly(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(constraintsOnly);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (PROSE.has(key)) continue;
    out[key] =
      key === 'properties' && value !== null && typeof value === 'object'
        ? Object.fromEntries(Object.entries(value).map(([name, schema]) => [name, constraintsOnly(schema)]))
        : constraintsOnly(value);
  }
  return out;
}

/** `components.schemas` of the published document, prose removed; undefined where the document is absent. */
export function publishedSchemas(): Schemas | undefined {
  if (!existsSync(PUBLISHED_DOCUMENT)) return undefined;
  const doc = JSON.parse(readFileSync(PUBLISHED_DOCUMENT, 'utf8')) as { components: { schemas: Schemas } };
  return constraintsOnly(doc.components.schemas) as Schemas;
}

/** The contract's schemas by name, from the fixture. */
export function contractSchemas(): Schemas {
  return JSON.parse(readFileSync(FIXTURE, 'utf8')) as Schemas;
}
