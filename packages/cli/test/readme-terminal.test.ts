/** What the README command test changes in a command before running it, and what it refuses. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, childEnv, REPO } from '../../server/test-support/serve-process.js';
import type { ReadmeCommand } from './readme-blocks.js';
import { ReadmeTerminal } from './readme-terminal.js';

const terminal = new ReadmeTerminal(REPO, 5123, {});
afterAll(() => terminal.close());

describe('ReadmeTerminal.translate', () => {
  it("runs the package.json script's command and a free port instead of 7400", () => {
    expect(terminal.translate('npm run warden -- keys list   # all keys')).toBe(
      'node packages/cli/dist/bin.js keys list   # all keys',
    );
    expect(terminal.translate('npm run -s warden -- policy schema')).toBe(
      'node packages/cli/dist/bin.js policy schema',
    );
    expect(terminal.translate('npm start')).toBe('node scripts/start.mjs');
    expect(terminal.translate('curl -s localhost:7400/healthz http://127.0.0.1:7400/x')).toBe(
      'curl -s 127.0.0.1:5123/healthz http://127.0.0.1:5123/x',
    );
  });

  it('refuses what a user could not run as written', () => {
    expect(() => terminal.translate('warden audit verify')).toThrow(/bare `warden`/);
    expect(() => terminal.translate('cp a b && warden policy lint b')).toThrow(/bare `warden`/);
    expect(() => terminal.translate('npm ci && npm start')).toThrow(/runs npm in a way/);
    expect(() => terminal.translate('npm run warden -- policy schema > s.json')).toThrow(/npm run -s/);
    expect(() => terminal.translate('export KEY=wdn_…')).toThrow(/no earlier command printed one/);
    expect(() => terminal.translate('npm run warden -- approvals show apr_…')).toThrow(/an approval id/);
  });
});

describe('ReadmeTerminal with a database', () => {
  it("runs a page's postgres:// URL against the database it was given, and refuses one without", async () => {
    const withDb = new ReadmeTerminal(REPO, 5123, {}, { databaseUrl: 'postgres://postgres@127.0.0.1:1/x' });
    try {
      expect(withDb.translate('export WARDEN_DB=postgres://warden@localhost:5432/warden   # yours')).toBe(
        'export WARDEN_DB=postgres://postgres@127.0.0.1:1/x   # yours',
      );
    } finally {
      await withDb.close();
    }
    expect(() => terminal.translate('npm run warden -- audit verify --db postgres://db/w')).toThrow(
      /no database/,
    );
  });
});

describe('ReadmeTerminal starting a server', () => {
  it('starts it on another free port when its port was taken before any command was told it', async () => {
    // Another process of the test run took the terminal's port between the pick and the start.
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as AddressInfo).port;
    const dir = mkdtempSync(join(tmpdir(), 'warden-terminal-'));
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ scripts: { start: `node ${BIN} serve --db ./w.db --host 127.0.0.1` } }),
    );
    const t = new ReadmeTerminal(dir, port, childEnv({ NO_COLOR: '1' }));
    try {
      const started = await t.run({ text: 'npm start', line: 1 } as ReadmeCommand);
      expect(started.code, started.output).toBe(0);
      expect(started.output).not.toContain(`:${port}`);
      // From then on, commands are given the port the server listens on.
      const url = t.translate('curl -s localhost:7400/healthz');
      expect(started.output).toContain(url.slice('curl -s '.length, url.indexOf('/healthz')));
    } finally {
      await t.close();
      taken.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
