import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { FIND_CALL_SQL, openSqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'warden-find-call-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite findCall', () => {
  it("reads a call's events by its call id (partial unique indexes), never every call event by type", async () => {
    const file = join(dir, 'plan.db');
    await openSqliteStore(file).close();
    const db = new Database(file, { readonly: true });
    try {
      const plan = (
        db.prepare(`EXPLAIN QUERY PLAN ${FIND_CALL_SQL}`).all({ id: 'c' }) as { detail: string }[]
      )
        .map((r) => r.detail)
        .filter((d) => d.startsWith('SEARCH') || d.startsWith('SCAN'));
      expect(plan).toEqual([
        expect.stringMatching(/USING (COVERING )?INDEX audit_events_call_decided \(call_id=\?/),
        expect.stringMatching(/USING (COVERING )?INDEX audit_events_call_end \(call_id=\?/),
      ]);
    } finally {
      db.close();
    }
  });
});
