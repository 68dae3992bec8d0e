/**
 * `warden serve --policy FILE` as real processes editing a real file: an edit takes effect (and is logged
 * and audited) on SQLite and on two instances sharing PostgreSQL, and a restart does not silently undo a
 * policy put in force with PUT /v1/policy. Needs the built CLI (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../engine/test-support/postgres-server.js';
import { eventually } from '../test-support/eventually.js';
import {
  policyChanges as changesAs,
  versionOf,
  waitForVersion as waitForVersionAs,
} from '../test-support/policy-process.js';
import { api, BIN, killAll, logged, type Served, spawnServe } from '../test-support/serve-process.js';

const ADMIN = `wdn_${randomBytes(32).toString('base64url')}`;
// Reloads and adoptions are notices: info lines in the log.
const ENV = { WARDEN_ADMIN_KEY: ADMIN, WARDEN_LOG_LEVEL: 'info' };
const FIRST = 'agents:\n  billing-agent:\n    rules:\n      - { id: one, effect: allow, tools: [echo] }\n';
const ADDED = '  new-bot:\n    rules:\n      - { id: nb, effect: allow, tools: [echo] }\n';
const PUT_TEXT = 'agents:\n  put-bot:\n    rules:\n      - { id: p, effect: allow, tools: [echo] }\n';

let dir: string;
const waitForVersion = (server: Served, version: string) => waitForVersionAs(server, version, ADMIN);
const policyChanges = (server: Served) => changesAs(server, ADMIN);

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-policy-file-'));
});

afterAll(() => {
  killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('warden serve --policy FILE (SQLite, a real process)', () => {
  it('an appended agent takes effect: /readyz and GET /v1/policy show it, it is audited and logged', async () => {
    const file = join(dir, 'append.yaml');
    writeFileSync(file, FIRST);
    const server = await spawnServe(['--db', join(dir, 'append.db'), '--port', '0', '--policy', file], ENV);
    const next = versionOf(FIRST + ADDED);
    try {
      await waitForVersion(server, versionOf(FIRST));
      appendFileSync(file, ADDED);
      await waitForVersion(server, next);
      const changes = await policyChanges(server);
      expect(changes.at(-1)?.event.data).toMatchObject({ oldVersion: versionOf(FIRST), newVersion: next });
      await eventually('the reload log line', () =>
        logged(server.stderr(), `policy ${next} is in force, reloaded from ${file}`).length
          ? true
          : undefined,
      );
    } finally {
      await server.stop();
    }
    // One info line per reload, naming the new version and the one it replaced.
    expect(logged(server.stderr(), 'reloaded from')).toEqual([
      expect.objectContaining({ level: 'info', policyVersion: next, previousVersion: versionOf(FIRST) }),
    ]);
  });

  it('a restart with an unchanged file keeps a newer policy PUT since; a changed file or --policy-overwrite wins', async () => {
    const file = join(dir, 'restart.yaml');
    const db = join(dir, 'restart.db');
    const args = ['--db', db, '--port', '0', '--policy', file];
    writeFileSync(file, FIRST);
    const first = await spawnServe(args, ENV);
    const put = await api<{ newVersion: string }>(first.url, 'PUT', '/v1/policy', {
      key: ADMIN,
      body: { text: PUT_TEXT },
    });
    expect(put.status).toBe(200);
    expect(put.body.newVersion).toBe(versionOf(PUT_TEXT));
    await first.stop();

    // The file has not changed since it was applied: the newer stored policy stays, and the log says so.
    const second = await spawnServe(args, ENV);
    await waitForVersion(second, versionOf(PUT_TEXT));
    const [warned, ...again] = logged((await second.stop()).err, 'has not changed');
    expect(again).toEqual([]);
    expect(warned).toMatchObject({
      level: 'warn',
      policyFile: file,
      fileVersion: versionOf(FIRST),
      storedVersion: versionOf(PUT_TEXT),
    });
    expect(warned?.msg).toContain(`${file} (policy ${versionOf(FIRST)}) has not changed`);
    expect(warned?.msg).toContain(`the stored policy ${versionOf(PUT_TEXT)}`);
    expect(warned?.msg).toContain('--policy-overwrite');

    // Saying so puts the file in force again, recorded as a change.
    const forced = await spawnServe([...args, '--policy-overwrite'], ENV);
    await waitForVersion(forced, versionOf(FIRST));
    expect((await policyChanges(forced)).at(-1)?.event.data).toMatchObject({
      oldVersion: versionOf(PUT_TEXT),
      newVersion: versionOf(FIRST),
    });
    await api(forced.url, 'PUT', '/v1/policy', { key: ADMIN, body: { text: PUT_TEXT } });
    await forced.stop();

    // A file edited while the server was down is a change: it wins, and the log names both versions.
    writeFileSync(file, FIRST + ADDED);
    const edited = await spawnServe(args, ENV);
    await waitForVersion(edited, versionOf(FIRST + ADDED));
    const said = logged(
      (await edited.stop()).err,
      `policy ${versionOf(FIRST + ADDED)} from ${file} replaces the stored policy ${versionOf(PUT_TEXT)}`,
    );
    expect(said).toEqual([
      expect.objectContaining({
        level: 'info',
        policyVersion: versionOf(FIRST + ADDED),
        storedVersion: versionOf(PUT_TEXT),
      }),
    ]);
  }, 90_000);
});

describe('warden serve --policy FILE: two processes on one PostgreSQL database', () => {
  it('an edit of the watched file reaches both instances, recorded once', async () => {
    const file = join(dir, 'shared.yaml');
    writeFileSync(file, FIRST);
    const db = await createTestDatabase(inject('postgresUrl'), 'policyfile');
    const common = ['--db', db, '--port', '0', '--keys', join(dir, 'shared-keys.json')];
    // A watches the file; B runs whatever is stored, so it learns of the edit only through the database.
    const a = await spawnServe([...common, '--policy', file], ENV);
    const b = await spawnServe(common, ENV);
    try {
      await waitForVersion(b, versionOf(FIRST));
      appendFileSync(file, ADDED);
      const next = versionOf(FIRST + ADDED);
      await waitForVersion(a, next);
      await waitForVersion(b, next);
      const changes = (await policyChanges(b)).filter((r) => r.event.data?.newVersion === next);
      expect(changes).toHaveLength(1);
      await eventually('B logging the adopted policy', () =>
        logged(b.stderr(), `policy ${next} is in force (stored by another instance)`).length
          ? true
          : undefined,
      );
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 90_000);

  it('both instances watching the same file: each edit is in force on both and recorded once', async () => {
    const file = join(dir, 'both.yaml');
    writeFileSync(file, FIRST);
    const db = await createTestDatabase(inject('postgresUrl'), 'policyboth');
    const args = ['--db', db, '--port', '0', '--keys', join(dir, 'both-keys.json'), '--policy', file];
    const a = await spawnServe(args, ENV);
    const b = await spawnServe(args, ENV);
    try {
      let text = FIRST;
      for (const agent of ['one-bot', 'two-bot', 'three-bot']) {
        text += `  ${agent}:\n    rules:\n      - { id: ${agent}, effect: allow, tools: [echo] }\n`;
        writeFileSync(file, text);
        const next = versionOf(text);
        await waitForVersion(a, next);
        await waitForVersion(b, next);
        // Both saw the edit at the same moment; one of them recorded it, the other adopted it.
        const changes = (await policyChanges(a)).filter((r) => r.event.data?.newVersion === next);
        expect(changes).toHaveLength(1);
      }
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 90_000);
});
