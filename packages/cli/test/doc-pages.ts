/**
 * The pages whose examples the README tests follow: the README, then every page of docs/ except
 * ARCHITECTURE.md (a map of the code, not steps to follow), in name order.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../server/test-support/serve-process.js';

/** Paths relative to the repository root, e.g. `README.md`, `docs/policy.md`. */
export const DOC_PAGES: readonly string[] = [
  'README.md',
  ...readdirSync(join(REPO, 'docs'))
    .filter((name) => name.endsWith('.md') && name !== 'ARCHITECTURE.md')
    .sort()
    .map((name) => `docs/${name}`),
];
