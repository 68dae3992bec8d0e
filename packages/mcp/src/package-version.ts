import { createRequire } from 'node:module';

/**
 * This package's version, read from its package.json at run time so that a release changes it in one
 * place. The path holds from `src/` (tests, the `@warden/source` condition) and from `dist/` alike.
 */
export const PACKAGE_VERSION: string = (
  createRequire(import.meta.url)('../package.json') as { version: string }
).version;
