/**
 * `warden serve` (a real process) logging requests at info: an approval-link token in the path and any
 * query string stay out of its log. Needs the built CLI.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import { BIN, killAll, logLines, spawnServe } from '../test-support/serve-process.js';

let dir: string;

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-request-log-'));
});

afterAll(() => {
  killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('warden serve request logs', () => {
  it('mask approval-link tokens and drop query strings', async () => {
    const server = await spawnServe(['--db', join(dir, 'log.db'), '--port', '0'], {
      WARDEN_ADMIN_KEY: `wdn_${randomBytes(32).toString('base64url')}`,
      WARDEN_LOG_LEVEL: 'info',
    });
    try {
      const token = `apl_${randomBytes(24).toString('base64url')}`;
      await fetch(`${server.url}/approve/${token}?note=QUERYSECRET`).then((r) => r.text());
      await fetch(`${server.url}/v1/approvals/links/${token}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"decision":"approve"}',
      }).then((r) => r.text());
      await fetch(`${server.url}/healthz?probe=QUERYSECRET`).then((r) => r.text());
      const urls = await eventually('the three request lines', () => {
        const seen = logLines(server.stderr())
          .map((l) => (l.req as { url?: string } | undefined)?.url)
          .filter((u): u is string => typeof u === 'string');
        return seen.length >= 3 ? seen : undefined;
      });
      expect(urls).toEqual(['/approve/<token>', '/v1/approvals/links/<token>', '/healthz']);
      expect(server.stderr()).not.toContain(token);
      expect(server.stderr()).not.toContain('QUERYSECRET');
    } finally {
      const exit = await server.stop();
      expect(exit.code).toBe(0);
    }
  }, 90_000);
});
