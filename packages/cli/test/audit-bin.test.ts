import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { eventCount, seqOfCall, tamperSqlite, useAuditTemplate } from './audit-fixtures.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const STACK = /\n\s+at .*\(.*:\d+:\d+\)/;

/** Runs the real `warden` entry point in its own process, as a user would. */
function warden(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(
    process.execPath,
    ['--conditions=@warden/source', '--import', 'tsx', 'packages/cli/src/bin.ts', ...args],
    {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...withoutWardenEnv(), ...env },
    },
  );
  expect(r.stdout + r.stderr).not.toMatch(STACK);
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** This process's environment without WARDEN_DB and WARDEN_KEYS, which would change the defaults. */
function withoutWardenEnv(): NodeJS.ProcessEnv {
  const { WARDEN_DB: _db, WARDEN_KEYS: _keys, ...rest } = process.env;
  return rest;
}

/** A new copy of the template database, in a new folder. */
const fresh = useAuditTemplate({ calls: 200, unsigned: 3 });
/** The seq the close checkpoint signs (224 events in all: 200 calls, 20 of them reviews, then 3 unsigned). */
const SIGNED = eventCount(200);
/** Every event, the unsigned tail included: also the last seq. */
const TOTAL = eventCount(200, 3);

describe('the warden process: audit', () => {
  it('verify: exit 0 when intact, 1 naming the first bad seq when edited', () => {
    const { db } = fresh();
    const ok = warden(['audit', 'verify', '--db', db]);
    expect(ok.code).toBe(0);
    expect(ok.out).toBe(
      `intact: ${TOTAL} events (seq 1–${TOTAL}), 2 checkpoints, last signed at seq ${SIGNED}; 3 events not yet signed\n`,
    );
    // An echo call's decision event: it contains 'echo'.
    const edited = seqOfCall(5);
    tamperSqlite(db, `UPDATE audit_events SET body = replace(body, 'echo', 'ECHO') WHERE seq = ${edited}`);
    const bad = warden(['audit', 'verify', '--db', db]);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(new RegExp(`^BROKEN at seq ${edited}: `));
  });

  it('a missing database or an unreachable server: exit 2, one clear line, nothing created', () => {
    const { dir } = fresh();
    const missing = join(dir, 'nothing-here.db');
    const r = warden(['audit', 'query', '--db', missing]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      `warden: no database at ${missing}: pass --db PATH (or a postgres:// URL), or set WARDEN_DB [USAGE]\n`,
    );
    expect(existsSync(missing)).toBe(false);
    const down = warden(['audit', 'verify', '--db', 'postgres://postgres@127.0.0.1:1/warden']);
    expect(down.code).toBe(2);
    expect(down.err).toMatch(/^warden: the database is unavailable .*ECONNREFUSED.*\[STORE_UNAVAILABLE\]\n$/);
  });

  it('export with WARDEN_DB and WARDEN_KEYS, then the printed auditor command verifies it offline', () => {
    const { dir, db, keys } = fresh();
    const out = join(dir, 'audit.csv');
    const ex = warden(['audit', 'export', '--format', 'csv', '--out', out], {
      WARDEN_DB: db,
      WARDEN_KEYS: keys,
    });
    expect(ex.code).toBe(0);
    const command = /^ {2}warden (audit verify --from-export .*)$/m.exec(ex.err)?.[1];
    expect(command).toBe(
      `audit verify --from-export ${out} --checkpoints ${out}.checkpoints.jsonl --public-key ${out}.pub.pem`,
    );
    const ok = warden((command as string).split(' '));
    expect(ok.code).toBe(0);
    expect(ok.out).toBe(
      `intact: ${TOTAL} events (seq 1–${TOTAL}), 3 checkpoints, sealed through seq ${TOTAL}\n`,
    );
  });

  it('help lists the audit commands; a bad flag is a usage error', () => {
    const help = warden(['audit', '--help']);
    expect(help.code).toBe(0);
    for (const c of ['verify', 'query', 'export', 'checkpoint', 'purge', 'hold'])
      expect(help.out).toContain(c);
    const bad = warden(['audit', 'export', '--format', 'xml']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/argument 'xml' is invalid\. Allowed choices are jsonl, csv, ocsf/);
  });
});
