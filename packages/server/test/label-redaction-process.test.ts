/**
 * Labels through `warden serve` as a real process (SQLite): an oversized label is refused naming it, and a
 * secret in a label counted by a tag budget is stored nowhere in the database file. Needs the built CLI.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { everyTableText } from '../../engine/test-support/store-fixtures.js';
import { api, BIN, killAll, spawnServe, warden } from '../test-support/serve-process.js';

const POLICY = `
name: label redaction
agents:
  bot:
    rules:
      - { id: any, effect: allow, tools: ['*'] }
    budgets:
      - { id: by-team, metric: calls, limit: 100, scope: tag, tag: team, window: day }
`;

let dir: string;
beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-labels-'));
});
afterAll(() => {
  killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('labels through warden serve (a real process)', () => {
  it('an oversized label is a 400 naming it; a secret label under a tag budget is in no table', async () => {
    const db = join(dir, 'labels.db');
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, POLICY);
    const server = await spawnServe(['--db', db, '--policy', policy, '--port', '0'], {
      WARDEN_LOG_LEVEL: 'warn',
    });
    const made = await warden(['keys', 'create', '--agent', 'bot', '--db', db, '--json']);
    expect(made.code).toBe(0);
    const key = (JSON.parse(made.out) as { secret: string }).secret;

    const big = await api<{ error?: { code: string; message: string } }>(server.url, 'POST', '/v1/calls', {
      key,
      body: { tool: 't', labels: { team: 'x'.repeat(1025) } },
    });
    expect(big.status).toBe(400);
    expect(JSON.stringify(big.body)).toMatch(/label \\"team\\" is longer than 1024 characters/);

    const secret = `ghp_${'A1b2C3d4'.repeat(5)}`;
    const ok = await api<{ effect?: string }>(server.url, 'POST', '/v1/calls', {
      key,
      body: { tool: 't', session: 's1', labels: { team: secret } },
    });
    expect(ok.status).toBe(200);
    expect((await server.stop()).code).toBe(0);

    const dump = await everyTableText(db);
    expect(dump).toContain('tag:team=[REDACTED:api_key]');
    expect(dump).not.toContain(secret);
    // The file as a whole, free pages and WAL included: nothing of the secret is left on disk.
    for (const f of [db, `${db}-wal`])
      if (existsSync(f)) expect(readFileSync(f).includes(secret)).toBe(false);
  });
});
