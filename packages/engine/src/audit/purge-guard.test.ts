import { type AuditEvent, canonicalJson, linkHash, signCheckpoint } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEngine } from '../../test-support/engine-fixtures.js';
import { DIALECTS, decided, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import type { Engine } from '../engine/engine.js';
import { generateKeyRing, type KeyRing } from '../keys/key-ring.js';
import { purgeExpired } from './retention.js';
import { verifyStore } from './verify-store.js';

/** What the guarding triggers say (both dialects): append-only tables, and the conditions of a purge. */
const GUARD_MESSAGE =
  /are append-only|a purge needs its retention\.purged record|a purge needs a purge checkpoint|a purge must end at a signed checkpoint|a legal hold is in place/;

/**
 * Someone with the app's database access (plain SQL, triggers in force: the sqlite3 shell on the file, a
 * psql session as the app's role) tries to delete audit events or checkpoints outside a retention purge.
 * The database must refuse every attempt; a genuine purge still works.
 */
describe.each(DIALECTS)('the database refuses hand-made purges (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine;
  let keys: KeyRing;

  beforeEach(async () => {
    fx = await freshStore(dialect);
    keys = generateKeyRing();
    // Five events from 2020 signed at seq 5, then ten of today, signed at 15.
    const old = Array.from({ length: 5 }, (_, i) =>
      decided({ ts: new Date(Date.UTC(2020, 0, 1, 0, i)).toISOString() }),
    );
    const sign = { keyId: keys.keyId, ts: new Date().toISOString(), sign: signer(keys) };
    await fx.store.commit([{ events: old, checkpoint: { kind: 'on-demand', ...sign } }]);
    engine = await testEngine(fx, { keys });
    for (let i = 0; i < 9; i++) await engine.check({ agent: 'billing-agent', tool: 'echo', args: { i } });
    await engine.checkpoint();
  });
  afterEach(async () => {
    await engine?.close();
    await fx?.dispose();
  });

  /**
   * Runs a statement as plain SQL; 'refused' when a guard (a trigger's message) rejects it. Any other
   * failure (a malformed statement, a missing table) is rethrown: it would prove nothing about the guards.
   */
  const attempt = async (sql: string, ...params: unknown[]) => {
    try {
      await fx.plain(sql, ...params);
      return 'done';
    } catch (err) {
      if (GUARD_MESSAGE.test(String((err as Error)?.message))) return 'refused';
      throw err;
    }
  };
  const seqs = async () => (await fx.store.readChain(0, 1_000)).map((r) => r.seq);
  const upsert = (table: string, cols: string, values: string, key: string, set: string) =>
    dialect === 'sqlite'
      ? `INSERT OR REPLACE INTO ${table} (${cols}) VALUES (${values})`
      : // The ids are identity columns: a hand-made row must override them to clash with one.
        `INSERT INTO ${table} (${cols}) OVERRIDING SYSTEM VALUE VALUES (${values}) ON CONFLICT (${key}) DO UPDATE SET ${set}`;

  it('refuses the old helper-table trick, a direct permission, and a plain DELETE', async () => {
    const before = await seqs();
    expect(before).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    // Schema 5 let this through: set the helper row, then DELETE. The helper table is gone.
    await expect(
      fx.plain(upsert('audit_purge', 'id, through_seq', '1, 1000000', 'id', 'through_seq = 1000000')),
    ).rejects.toThrow(/no such table: audit_purge|relation "audit_purge" does not exist/);
    expect(await attempt('DELETE FROM audit_events WHERE seq <= 10')).toBe('refused');
    expect(
      await attempt(
        'INSERT INTO audit_purges (record_seq, through_seq, purged_at) VALUES ($1, $2, $3)',
        15,
        14,
        'now',
      ),
    ).toBe('refused');
    expect(await attempt('DELETE FROM audit_events WHERE seq <= 14')).toBe('refused');
    expect(await attempt('DELETE FROM checkpoints')).toBe('refused');
    expect(await attempt("UPDATE checkpoints SET kind = 'purge'")).toBe('refused');
    const cp = (await fx.store.checkpoints())[0];
    expect(
      await attempt(
        upsert('checkpoints', 'id, seq, kind, signed', `1, 1, 'periodic', '{}'`, 'id', 'seq = 1'),
      ),
    ).toBe('refused');
    if (dialect === 'postgres') {
      for (const table of ['audit_events', 'audit_purges', 'checkpoints']) {
        expect(await attempt(`TRUNCATE ${table}`)).toBe('refused');
      }
    }
    expect(await seqs()).toEqual(before);
    expect((await fx.store.checkpoints())[0]).toEqual(cp);
    expect(await verifyStore(fx.store)).toMatchObject({ ok: true, firstSeq: 1, lastSeq: 15 });
  });

  it('an event replaced by its seq: PostgreSQL refuses; SQLite lets INSERT OR REPLACE by, verify names it', async () => {
    const replace = upsert(
      'audit_events',
      'seq, prev, hash, body, ts, type, actor',
      `3, 'p', 'h', '{}', 't', 'x', 'y'`,
      'seq',
      'body = EXCLUDED.body',
    );
    if (dialect === 'postgres') {
      // Partitioned by ts (schema 12), the table's unique key is (seq, ts): an upsert on it meets the
      // UPDATE trigger of whichever partition holds the row.
      const ts = JSON.parse((await fx.store.readChain(2, 1))[0]?.body ?? '{}').ts as string;
      const onKey = upsert(
        'audit_events',
        'seq, prev, hash, body, ts, type, actor',
        `3, 'p', 'h', '{}', '${ts}', 'x', 'y'`,
        'seq, ts',
        'body = EXCLUDED.body',
      );
      expect(await attempt(onKey)).toBe('refused');
      expect(await verifyStore(fx.store)).toMatchObject({ ok: true });
      return;
    }
    // SQLite fires no delete trigger for a REPLACE, and a guard on every insert costs a third of the
    // append rate (sqlite-migrations.ts): the chain is what catches it.
    expect(await attempt(replace)).toBe('done');
    expect((await verifyStore(fx.store)).problem).toMatchObject({ code: 'PREV_MISMATCH', seq: 3 });
  });

  it('refuses a forged purge record without a purge checkpoint signed over it', async () => {
    const head = await fx.store.head();
    const anchor = (await fx.store.checkpoints()).find((c) => c.seq === 5);
    const record: AuditEvent = decided({
      type: 'retention.purged',
      data: { throughSeq: 5, anchorHash: anchor?.hash, fromSeq: 1 },
    });
    const body = canonicalJson(record);
    const seq = head.seq + 1;
    // Appending is what the app does, so plain SQL may append; the record alone authorises nothing.
    await fx.plain(
      'INSERT INTO audit_events (seq, prev, hash, body, ts, type, actor) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      seq,
      head.hash,
      linkHash(seq, head.hash, body),
      body,
      record.ts,
      record.type,
      record.actor.id,
    );
    const permit = 'INSERT INTO audit_purges (record_seq, through_seq, purged_at) VALUES ($1, $2, $3)';
    expect(await attempt(permit, seq, 5, 'now')).toBe('refused');
    // A periodic checkpoint over it is not a purge checkpoint (and could only be signed by Warden).
    await engine.checkpoint();
    expect(await attempt(permit, seq, 5, 'now')).toBe('refused');
    expect(await attempt('DELETE FROM audit_events WHERE seq <= 5')).toBe('refused');
    expect((await seqs()).length).toBe(16);
  });

  it('lets a forged purge checkpoint through SQL, and verification rejects it for good', async () => {
    // SQL cannot check an Ed25519 signature: the one way past the triggers leaves a forgery behind.
    const head = await fx.store.head();
    const anchor = (await fx.store.checkpoints()).find((c) => c.seq === 5);
    const record = decided({ type: 'retention.purged', data: { throughSeq: 5, anchorHash: anchor?.hash } });
    const body = canonicalJson(record);
    const seq = head.seq + 1;
    const hash = linkHash(seq, head.hash, body);
    await fx.plain(
      'INSERT INTO audit_events (seq, prev, hash, body, ts, type, actor) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      seq,
      head.hash,
      hash,
      body,
      record.ts,
      record.type,
      record.actor.id,
    );
    const forger = generateKeyRing();
    const forged = signCheckpoint(
      { kind: 'purge', seq, hash, ts: new Date().toISOString(), prev: null, keyId: keys.keyId },
      forger.signingKey,
    );
    await fx.plain(
      'INSERT INTO checkpoints (seq, kind, signed) VALUES ($1, $2, $3)',
      seq,
      'purge',
      JSON.stringify(forged),
    );
    await fx.plain(
      'INSERT INTO audit_purges (record_seq, through_seq, purged_at) VALUES ($1, $2, $3)',
      seq,
      5,
      'now',
    );
    await fx.plain('DELETE FROM audit_events WHERE seq <= 5');
    expect(await attempt('DELETE FROM checkpoints WHERE seq = $1', seq)).toBe('refused');
    expect((await verifyStore(fx.store)).problem).toMatchObject({ code: 'CHECKPOINT_SIGNATURE', seq });
  });

  it('accepts a genuine purge, whose permission cannot be widened, removed or used again', async () => {
    const outcome = await purgeExpired(engine, { retentionDays: 400 });
    expect(outcome).toMatchObject({ purged: 5, throughSeq: 5 });
    const record = (await fx.store.head()).seq;
    expect((await fx.store.checkpoints()).at(-1)).toMatchObject({ kind: 'purge', seq: record });
    expect(await attempt('UPDATE audit_purges SET through_seq = 1000000')).toBe('refused');
    expect(
      await attempt(
        upsert(
          'audit_purges',
          'record_seq, through_seq, purged_at',
          `${record}, 1000000, 'now'`,
          'record_seq',
          'through_seq = 1000000',
        ),
      ),
    ).toBe('refused');
    expect(await attempt('DELETE FROM audit_purges')).toBe('refused');
    // The record is still the newest event, but the permission covers only what is already gone.
    expect(await attempt('DELETE FROM audit_events WHERE seq <= $1', record)).toBe('refused');
    await engine.check({ agent: 'billing-agent', tool: 'echo' });
    expect(await attempt('DELETE FROM audit_events WHERE seq <= 5')).toBe('done'); // nothing left to match
    expect(await attempt('DELETE FROM audit_events WHERE seq <= 10')).toBe('refused');
    expect((await seqs())[0]).toBe(6);
    expect(await verifyStore(fx.store)).toMatchObject({ ok: true, firstSeq: 6 });
  });
});

function signer(keys: KeyRing) {
  return (body: Parameters<typeof signCheckpoint>[0]) => signCheckpoint(body, keys.signingKey);
}
