/**
 * Which policy `warden serve --policy FILE` starts with when the database already holds one, as real
 * processes: a file reverted to an earlier version is a change (it wins); a stored policy kept at start is
 * not put back over one another instance stored meanwhile; a stored policy this Warden cannot compile (a
 * newer Warden stored it) stops the start rather than being overwritten. Needs the built CLI.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePolicySources } from '@warden/core';
import { openEngine } from '@warden/engine';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, withClient } from '../../engine/test-support/postgres-server.js';
import { eventually } from '../test-support/eventually.js';
import {
  policyChanges,
  versionOf,
  waitForVersion as waitForVersionAs,
} from '../test-support/policy-process.js';
import { api, BIN, killAll, logged, type Served, spawnServe } from '../test-support/serve-process.js';

const ADMIN = `wdn_${randomBytes(32).toString('base64url')}`;
const ENV = { WARDEN_ADMIN_KEY: ADMIN, WARDEN_LOG_LEVEL: 'warn' };
const V1 = 'agents:\n  billing-agent:\n    rules:\n      - { id: one, effect: allow, tools: [echo] }\n';
const V2 = `${V1}  new-bot:\n    rules:\n      - { id: nb, effect: allow, tools: [echo] }\n`;
const PUT_TEXT = 'agents:\n  put-bot:\n    rules:\n      - { id: p, effect: allow, tools: [echo] }\n';
const PUT_LATER = 'agents:\n  later-bot:\n    rules:\n      - { id: l, effect: allow, tools: [echo] }\n';

let dir: string;
const waitForVersion = (server: Served, version: string) => waitForVersionAs(server, version, ADMIN);

/** The new versions of every recorded policy change, oldest first. */
async function changedTo(server: Served): Promise<unknown[]> {
  return (await policyChanges(server, ADMIN)).map((x) => x.event.data?.newVersion);
}

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-policy-restart-'));
});

afterAll(() => {
  killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('warden serve --policy FILE at a restart (SQLite, real processes)', () => {
  it('a file reverted to an earlier version it once held is a change: it replaces the stored policy', async () => {
    const file = join(dir, 'revert.yaml');
    const args = ['--db', join(dir, 'revert.db'), '--port', '0', '--policy', file];
    writeFileSync(file, V1);
    const first = await spawnServe(args, ENV);
    await waitForVersion(first, versionOf(V1));
    // The edit to V2 is applied by the watcher; then the operator reverts the file (git checkout).
    writeFileSync(file, V2);
    await waitForVersion(first, versionOf(V2));
    await first.stop();
    writeFileSync(file, V1);

    // At info: that the file replaced the stored policy is a notice.
    const second = await spawnServe(args, { ...ENV, WARDEN_LOG_LEVEL: 'info' });
    await waitForVersion(second, versionOf(V1));
    expect((await changedTo(second)).at(-1)).toBe(versionOf(V1));
    const said = (await second.stop()).err;
    expect(logged(said, 'has not changed')).toEqual([]);
    expect(
      logged(said, `policy ${versionOf(V1)} from ${file} replaces the stored policy ${versionOf(V2)}`),
    ).toEqual([
      expect.objectContaining({ level: 'info', policyVersion: versionOf(V1), storedVersion: versionOf(V2) }),
    ]);
  }, 90_000);

  it('a stored policy this Warden cannot compile stops the start; --policy-overwrite replaces it', async () => {
    const file = join(dir, 'future.yaml');
    const db = join(dir, 'future.db');
    const args = ['--db', db, '--port', '0', '--policy', file];
    writeFileSync(file, V1);
    await (await spawnServe(args, ENV)).stop();
    // What a newer Warden stores: a document with a key this build does not know.
    const future = { ...compilePolicySources([{ file: 'p.yaml', text: V2 }]), version: 'f'.repeat(64) };
    const engine = await openEngine({ db, policy: compilePolicySources([{ file: 'p.yaml', text: V1 }]) });
    await engine.setPolicy(future, { kind: 'system', id: 'warden' }, [
      { path: 'p.yaml', text: `${V2}future_setting: { on: true }\n` },
    ]);
    await engine.close();

    writeFileSync(file, V2);
    // Even a changed file does not go over it: policy sync would spread this older policy everywhere.
    const refused = await spawnServe(args, ENV).then(
      async (s) => `started: ${(await s.stop()).err}`,
      (err: Error) => err.message,
    );
    expect(refused).toContain('exited early');
    expect(refused).toContain(`the stored policy ${'f'.repeat(64)}`);
    expect(refused).toContain('cannot be compiled by this Warden');
    expect(refused).toContain('--policy-overwrite');

    const forced = await spawnServe([...args, '--policy-overwrite'], ENV);
    await waitForVersion(forced, versionOf(V2));
    expect((await changedTo(forced)).slice(-2)).toEqual(['f'.repeat(64), versionOf(V2)]);
    await forced.stop();
  }, 90_000);
});

describe('warden serve --policy FILE at a restart: PostgreSQL shared with a running instance', () => {
  it('a stored policy kept at start is not put back over one another instance stored meanwhile', async () => {
    const file = join(dir, 'race.yaml');
    writeFileSync(file, V1);
    const db = await createTestDatabase(inject('postgresUrl'), 'policyrace');
    const common = ['--db', db, '--port', '0', '--keys', join(dir, 'race-keys.json')];
    // The file is applied, then a newer policy is PUT: a restart with the unchanged file keeps it.
    const a = await spawnServe([...common, '--policy', file], ENV);
    expect((await api(a.url, 'PUT', '/v1/policy', { key: ADMIN, body: { text: PUT_TEXT } })).status).toBe(
      200,
    );
    await a.stop();
    const b = await spawnServe(common, ENV);
    try {
      await withClient(db, async (client) => {
        // Holding the signing keys stops the restarting instance after it settled on the stored policy
        // (it reads them next, opening its engine), while B can still record a change. The lock is
        // released well inside the store's 10 s lock timeout: one PUT is all that happens meanwhile.
        await client.query('BEGIN');
        await client.query('LOCK TABLE signing_keys IN ACCESS EXCLUSIVE MODE');
        const restarting = spawnServe([...common, '--policy', file], ENV);
        restarting.catch(() => {});
        await eventually('the restart waiting on the signing keys', async () => {
          // pg_stat_activity is read once per transaction unless its snapshot is dropped.
          await client.query('SELECT pg_stat_clear_snapshot()');
          const r = await client.query(
            `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM signing_keys%'`,
          );
          return r.rowCount ? true : undefined;
        });
        const put = await api(b.url, 'PUT', '/v1/policy', { key: ADMIN, body: { text: PUT_LATER } });
        expect(put.status).toBe(200);
        await client.query('COMMIT');
        const again = await restarting;
        try {
          await waitForVersion(again, versionOf(PUT_LATER));
          await waitForVersion(b, versionOf(PUT_LATER));
          expect((await changedTo(b)).slice(-2)).toEqual([versionOf(PUT_TEXT), versionOf(PUT_LATER)]);
          expect(logged(again.stderr(), 'has not changed since it was last applied')).toEqual([
            expect.objectContaining({ level: 'warn', storedVersion: versionOf(PUT_TEXT) }),
          ]);
        } finally {
          await again.stop();
        }
      });
    } finally {
      await b.stop();
    }
  }, 90_000);
});
