// Rewrites test/fixtures/contract/schemas.json from the published OpenAPI document (see test/support/contract.ts).
import { writeFileSync } from 'node:fs';
import { FIXTURE, PUBLISHED_DOCUMENT, publishedSchemas } from '../test/support/contract.js';

const schemas = publishedSchemas();
if (!schemas) {
  console.error(`The published document is not there: ${PUBLISHED_DOCUMENT.pathname}`);
  process.exit(1);
}
writeFileSync(FIXTURE, `${JSON.stringify(schemas, null, 1)}\n`);
console.log(`wrote ${FIXTURE.pathname} (${Object.keys(schemas).length} schemas)`);
