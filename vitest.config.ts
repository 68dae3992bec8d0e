import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@warden/source'] },
  ssr: { resolve: { conditions: ['@warden/source'] } },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'packages/*/test-support/**/*.test.ts',
      'clients/python/test/**/*.test.ts',
    ],
    testTimeout: 30_000,
    // Hooks start servers and databases; on a loaded 2-vCPU machine that can take more than the default 10 s.
    hookTimeout: 60_000,
    // One throwaway PostgreSQL cluster for the run (installed from Debian's packages when missing).
    globalSetup: ['./packages/engine/test-support/postgres-global-setup.ts'],
    pool: 'forks',
    reporters: ['default', './scripts/summary-reporter.ts'],
  },
});
