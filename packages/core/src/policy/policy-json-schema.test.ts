import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { policyJsonSchema } from './policy-schema.js';

describe('policy JSON Schema', () => {
  it('the committed policy.schema.json matches the Zod schema (run `npm run schema` after changing it)', () => {
    const committed = JSON.parse(readFileSync(new URL('../../policy.schema.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(policyJsonSchema());
  });

  it('describes rules: required id, effect and tools, and no unknown keys', () => {
    const text = JSON.stringify(policyJsonSchema());
    expect(text).toContain('"required":["id","effect","tools"]');
    expect(text).toContain('"additionalProperties":false');
  });
});
