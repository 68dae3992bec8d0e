import { EXPORT_FORMATS, parseExport } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEngine } from '../../test-support/engine-fixtures.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import type { Engine } from '../engine/engine.js';
import { exportAudit, verifyExportRows } from './export-audit.js';
import { placeLegalHold, purgeExpired, releaseLegalHold } from './retention.js';
import { verifyStore } from './verify-store.js';

const CANARY = 'sk-live-CANARYexport0123456789abcdef';

describe.each(DIALECTS)('export and retention (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine;
  beforeEach(async () => {
    fx = await freshStore(dialect);
    engine = await testEngine(fx);
    for (let i = 0; i < 40; i++) {
      const r = await engine.check({
        agent: 'billing-agent',
        tool: 'echo',
        args: { i, key: CANARY, note: 'a,"b"\nc' },
      });
      if (i % 2 === 0) await engine.complete(r.callId, { status: 'ok', result: { echoed: i } });
    }
    await engine.checkpoint();
  });
  afterEach(async () => {
    await engine?.close();
    await fx?.dispose();
  });

  const exportText = async (
    format: (typeof EXPORT_FORMATS)[number],
    range: { from?: string; to?: string } = {},
  ) => {
    let text = '';
    const result = await exportAudit(fx.store, engine.keys, {
      format,
      ...range,
      write: (c) => {
        text += c;
      },
    });
    return { text, result };
  };

  it.each(EXPORT_FORMATS)(
    'exports %s that verifies offline, and catches an edited or cut export',
    async (format) => {
      const { text, result } = await exportText(format);
      expect(result).toMatchObject({ count: 61, firstSeq: 1, lastSeq: 61 });
      expect(text).not.toContain(CANARY);
      const keys = [engine.keys.publicKey];
      expect(verifyExportRows(parseExport(text), result.checkpoints, keys)).toMatchObject({
        ok: true,
        checked: 61,
      });

      const lines = text.split('\n');
      const needle = format === 'csv' ? '""i"":17' : '"i":17';
      const at = lines.findIndex((l) => l.includes(needle));
      const edited = [...lines];
      edited[at] = (edited[at] as string).replace(needle, needle.replace('17', '71'));
      const seq = parseExport(text)[format === 'csv' ? at - 1 : at]?.seq;
      expect(
        verifyExportRows(parseExport(edited.join('\n')), result.checkpoints, keys).problem,
      ).toMatchObject({ seq });

      const cut = lines.slice(0, -3).join('\n');
      expect(verifyExportRows(parseExport(cut), result.checkpoints, keys).problem).toMatchObject({
        code: 'TRUNCATED',
        seq: 60,
      });
      const otherKey = (await testEngine(fx)).keys.publicKey;
      expect(verifyExportRows(parseExport(text), result.checkpoints, [otherKey]).problem?.code).toBe(
        'CHECKPOINT_SIGNATURE',
      );
    },
  );

  it('exports a time range as one contiguous, sealed stretch of the chain', async () => {
    const rows = await fx.store.readChain(0, 100);
    const ts = (seq: number) => (JSON.parse((rows[seq - 1] as { body: string }).body) as { ts: string }).ts;
    const { text, result } = await exportText('jsonl', { from: ts(10), to: ts(30) });
    // Events can share a millisecond: the range ends before the first event stamped ts(30), which may
    // be an event before 30.
    const inRange = rows.map((_, i) => i + 1).filter((seq) => ts(seq) >= ts(10) && ts(seq) < ts(30));
    expect(result.firstSeq).toBeLessThanOrEqual(Math.min(...inRange));
    expect(result.lastSeq).toBeGreaterThanOrEqual(Math.max(...inRange));
    expect(verifyExportRows(parseExport(text), result.checkpoints, [engine.keys.publicKey]).ok).toBe(true);
  });

  it('refuses to export a broken chain', async () => {
    await fx.tamper([["UPDATE audit_events SET body = replace(body, 'echo', 'ECHO') WHERE seq = $1", 5]]);
    await expect(exportText('jsonl')).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
  });

  it('purges expired events up to a signed anchor, keeps the chain verifiable, and obeys legal holds', async () => {
    const later = new Date(Date.now() + 500 * 86_400_000);
    const hold = await placeLegalHold(engine, { kind: 'human', id: 'counsel' }, 'matter 2026-114');
    await expect(purgeExpired(engine, { retentionDays: 400, now: later })).rejects.toMatchObject({
      code: 'LEGAL_HOLD_ACTIVE',
    });
    await releaseLegalHold(engine, { kind: 'human', id: 'counsel' }, hold.id, 'matter closed');
    const before = await fx.store.head();
    await engine.checkpoint();
    const outcome = await purgeExpired(engine, { retentionDays: 400, now: later });
    expect(outcome).toMatchObject({ throughSeq: before.seq, purged: before.seq });
    expect((await fx.store.oldestEvent())?.seq).toBe(before.seq + 1);
    expect(await verifyStore(fx.store)).toMatchObject({ ok: true, firstSeq: before.seq + 1 });
    expect(await purgeExpired(engine, { retentionDays: 400 })).toMatchObject({ purged: 0 });
    // Removing the oldest events by hand, without the purge record, is caught.
    await engine.check({ agent: 'billing-agent', tool: 'echo' });
    await engine.checkpoint();
    const head = await fx.store.head();
    await fx.tamper([['DELETE FROM audit_events WHERE seq < $1', head.seq]]);
    expect((await verifyStore(fx.store)).problem?.code).toBe('ANCHOR_MISSING');
  });

  it('deletes decided approval requests older than the cutoff with the events, and keeps pending ones', async () => {
    const refund = async () =>
      (await engine.check({ agent: 'billing-agent', tool: 'stripe.refund', args: { amount: 500 } })).approval
        ?.id as string;
    const decidedId = await refund();
    const pendingId = await refund();
    await engine.approvals.cancel(decidedId, { kind: 'agent', id: 'billing-agent' }, 'not needed');
    expect(await fx.store.approval(decidedId)).toMatchObject({ status: 'cancelled' });
    await engine.checkpoint();

    const later = new Date(Date.now() + 500 * 86_400_000);
    const outcome = await purgeExpired(engine, { retentionDays: 400, now: later });
    const state = { approvals: 1, grants: 0, notifications: 0 };
    expect(outcome).toMatchObject({ purged: expect.any(Number), state });
    expect(await fx.store.approval(decidedId)).toBeUndefined();
    expect(await fx.store.approval(pendingId)).toMatchObject({ status: 'pending' });
    const [purged] = (await fx.store.queryAudit({ type: 'retention.purged', limit: 10 })).records;
    expect(purged?.event.data).toMatchObject({ cutoff: outcome.cutoff, state });
    expect(await verifyStore(fx.store)).toMatchObject({ ok: true });
  });
});
