// Regenerates packages/core/policy.schema.json from the Zod schema (`npm run schema`); a test fails
// when the committed file is stale, so editors always get the schema the code enforces.
import { writeFileSync } from 'node:fs';
import { policyJsonSchema } from '@warden/core';

const file = new URL('../packages/core/policy.schema.json', import.meta.url);
writeFileSync(file, `${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
console.log(`wrote ${file.pathname}`);
