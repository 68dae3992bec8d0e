import { linkHash, type SignedCheckpoint, uuidv7 } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEngine } from '../../test-support/engine-fixtures.js';
import { DIALECTS, decided, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import { verifyStore } from './verify-store.js';

/**
 * An attacker with direct database access (triggers bypassed) edits, deletes, inserts, swaps and
 * truncates; verification must catch each and name the first bad sequence number.
 */
describe.each(DIALECTS)('audit tamper detection (%s)', (dialect) => {
  let fx: StoreFixture;
  /** Checkpoints kept outside the database, as an operator would. */
  let kept: SignedCheckpoint[];

  beforeEach(async () => {
    fx = await freshStore(dialect);
    const engine = await testEngine(fx, { everyEvents: 1_000_000 });
    // 60 events; checkpoints at 25 and 50 (plus the key event at 1); 10 more unsigned at the end.
    for (let i = 1; i < 60; i++) {
      await engine.check({ agent: 'billing-agent', tool: 'echo', args: { i }, session: `s-${i % 3}` });
      if (i === 24 || i === 49) await engine.checkpoint();
    }
    kept = await fx.store.checkpoints();
    expect(kept.map((c) => c.seq)).toEqual([25, 50]);
  });
  afterEach(async () => {
    await fx?.dispose();
  });

  /** Verifies on one thread and, for SQLite, in stretches on 3 threads; both must say the same. */
  const verify = async () => {
    const report = await verifyStore(fx.store, { checkpoints: kept, threads: 1 });
    if (fx.store.localFile) {
      const parallel = await verifyStore(fx.store, { checkpoints: kept, threads: 3, parallelFrom: 1 });
      expect(parallel).toEqual(report);
    }
    return report;
  };
  const row = async (seq: number) =>
    (await fx.store.readChain(seq - 1, 1))[0] as { seq: number; prev: string; hash: string; body: string };

  it('passes an untouched chain', async () => {
    expect(await verify()).toMatchObject({
      ok: true,
      checked: 60,
      lastSeq: 60,
      lastCheckpointSeq: 50,
      unsignedTail: 10,
    });
  });

  it('catches an edited field', async () => {
    await fx.tamper([
      ['UPDATE audit_events SET body = replace(body, \'"i":7\', \'"i":8\') WHERE seq = $1', 8],
    ]);
    expect((await verify()).problem).toMatchObject({ code: 'HASH_MISMATCH', seq: 8 });
  });

  it('catches an edit whose attacker recomputed every later hash, by the signed checkpoint', async () => {
    const rows = await fx.store.readChain(0, 100);
    let prev = (rows[29] as { prev: string }).prev;
    const updates: [string, ...unknown[]][] = [];
    for (const r of rows.slice(29)) {
      const body = r.seq === 30 ? r.body.replace('"effect":"allow"', '"effect":"block"') : r.body;
      const hash = linkHash(r.seq, prev, body);
      updates.push([
        'UPDATE audit_events SET body = $1, prev = $2, hash = $3 WHERE seq = $4',
        body,
        prev,
        hash,
        r.seq,
      ]);
      prev = hash;
    }
    await fx.tamper(updates);
    expect((await verify()).problem).toMatchObject({ code: 'CHECKPOINT_MISMATCH', seq: 26 });
  });

  it('catches a deleted event', async () => {
    await fx.tamper([['DELETE FROM audit_events WHERE seq = $1', 9]]);
    expect((await verify()).problem).toMatchObject({ code: 'SEQUENCE_GAP', seq: 9 });
  });

  it('catches an inserted event', async () => {
    const at = await row(10);
    const callId = (JSON.parse(at.body) as { callId: string }).callId;
    const forged = at.body.replace('"effect":"allow"', '"effect":"review"').replaceAll(callId, uuidv7());
    await fx.tamper([
      ['UPDATE audit_events SET seq = seq + 1000 WHERE seq >= $1', 10],
      ['UPDATE audit_events SET seq = seq - 999 WHERE seq >= $1', 1000],
      [
        'INSERT INTO audit_events (seq, prev, hash, body, ts, type, actor) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        10,
        at.prev,
        linkHash(10, at.prev, forged),
        forged,
        new Date().toISOString(),
        'call.decided',
        'billing-agent',
      ],
    ]);
    expect((await verify()).problem).toMatchObject({ code: 'PREV_MISMATCH', seq: 11 });
  });

  it('catches a swapped pair', async () => {
    const [a, b] = [await row(12), await row(13)];
    await fx.tamper([
      ['UPDATE audit_events SET body = $1 WHERE seq = $2', '{}', 12],
      ['UPDATE audit_events SET body = $1, hash = $2 WHERE seq = $3', a.body, a.hash, 13],
      ['UPDATE audit_events SET body = $1, hash = $2 WHERE seq = $3', b.body, b.hash, 12],
    ]);
    expect((await verify()).problem).toMatchObject({ code: 'HASH_MISMATCH', seq: 12 });
  });

  it('catches a truncated tail against the last checkpoint, even with the checkpoints deleted too', async () => {
    await fx.tamper([
      ['DELETE FROM audit_events WHERE seq > $1', 41],
      ['DELETE FROM checkpoints WHERE seq > $1', 41],
    ]);
    expect((await verify()).problem).toMatchObject({ code: 'TRUNCATED', seq: 42 });
    // Without the kept checkpoints the database alone cannot tell: that is why they are exported.
    expect((await verifyStore(fx.store)).ok).toBe(true);
  });

  it('deep verification names each edited query column, approvers too on PostgreSQL', async () => {
    // Every column set; U+0000 and a lone surrogate, which the columns store as the dialect can hold them.
    const event = decided({ triggeredBy: 'bob', approvers: ['alice'], session: 's-\u0000\ud800' });
    const [written] = await fx.store.commit([{ events: [event] }]);
    const seq = written?.events[0]?.seq as number;
    expect(await verifyStore(fx.store, { deep: true })).toMatchObject({ ok: true });
    const columns = Object.keys(fx.store.expectedColumns(event));
    expect(columns).toHaveLength(dialect === 'postgres' ? 12 : 11);
    const stored = (await fx.store.readColumns(seq - 1, 1))[0]?.columns ?? {};
    for (const column of columns) {
      const edit = column === 'approvers' ? ['mallory'] : 'edited';
      await fx.tamper([[`UPDATE audit_events SET ${column} = $1 WHERE seq = $2`, edit, seq]]);
      expect(await verifyStore(fx.store)).toMatchObject({ ok: true });
      expect((await verifyStore(fx.store, { deep: true })).problem).toMatchObject({
        code: 'COLUMN_MISMATCH',
        seq,
        column,
      });
      await fx.tamper([[`UPDATE audit_events SET ${column} = $1 WHERE seq = $2`, stored[column], seq]]);
    }
    expect(await verifyStore(fx.store, { deep: true })).toMatchObject({ ok: true });
  });

  it('catches a forged checkpoint', async () => {
    const forged = { ...(kept[1] as SignedCheckpoint), hash: 'f'.repeat(64) };
    expect((await verifyStore(fx.store, { checkpoints: [forged] })).problem).toMatchObject({
      code: 'CHECKPOINT_SIGNATURE',
      seq: 50,
    });
  });
});
