/**
 * Vitest globalSetup: one PostgreSQL cluster for the whole run, started before any worker exists and
 * destroyed after the last test file. Tests read its URL with `inject('postgresUrl')` and call
 * createTestDatabase() on it, so parallel files never share a database.
 */
import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** postgres://postgres@127.0.0.1:PORT/postgres of the run's shared cluster. */
    postgresUrl: string;
  }
}

/** Starts the shared cluster, provides its URL and returns the teardown that destroys it. */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startPostgres();
  project.provide('postgresUrl', server.url);
  return () => server.destroy();
}
