import { ChainVerifier, checkpointDigest, isWardenError, signCheckpoint, uuidv7 } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, decided, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import { generateKeyRing } from '../keys/key-ring.js';
import { parseAuditQuery } from './audit-query.js';
import { GroupCommitter } from './group-committer.js';
import type { CheckpointRequest, SessionRecord } from './store.js';

/** The one Store contract: every test runs unchanged against SQLite and a real PostgreSQL. */
describe.each(DIALECTS)('Store contract (%s)', (dialect) => {
  let fx: StoreFixture;
  beforeEach(async () => {
    fx = await freshStore(dialect);
  });
  afterEach(async () => {
    await fx?.dispose();
  });

  const keys = generateKeyRing();
  const cpRequest = (kind: CheckpointRequest['kind'] = 'on-demand'): CheckpointRequest => ({
    kind,
    keyId: keys.keyId,
    ts: new Date().toISOString(),
    sign: (body) => signCheckpoint(body, keys.signingKey),
  });
  const verify = async () => {
    const v = new ChainVerifier({
      mode: 'store',
      checkpoints: await fx.store.checkpoints(),
      publicKeys: [keys.publicKey],
    });
    for (const row of await fx.store.readChain(0, 1_000_000)) v.push(row);
    return v.finish();
  };

  it('starts empty and chains events from seq 1 in commit order', async () => {
    expect(await fx.store.head()).toEqual({ seq: 0, hash: '0'.repeat(64) });
    const [a, b] = await fx.store.commit([{ events: [decided(), decided()] }, { events: [decided()] }]);
    expect(a?.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(b?.events.map((e) => e.seq)).toEqual([3]);
    const head = await fx.store.head();
    expect(head).toEqual({ seq: 3, hash: b?.events[0]?.hash });
    const rows = await fx.store.readChain(1, 10);
    expect(rows.map((r) => r.seq)).toEqual([2, 3]);
    expect(rows[0]?.prev).toBe(a?.events[0]?.hash);
    expect((await verify()).ok).toBe(true);
  });

  it('keeps the body exactly as hashed and returns it parsed from queries', async () => {
    const e = decided({ args: { note: 'ünïcødé ✓', nested: { b: 1, a: [1, 2.5, null] } } });
    await fx.store.commit([{ events: [e] }]);
    const page = await fx.store.queryAudit(parseAuditQuery({}));
    expect(page.records[0]?.event).toEqual(e);
    expect((await verify()).ok).toBe(true);
  });

  it('filters queries by every field and pages with a cursor', async () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const events = Array.from({ length: 30 }, (_, i) =>
      decided({
        ts: new Date(t0 + i * 60_000).toISOString(),
        agent: i % 3 === 0 ? 'ops-agent' : 'billing-agent',
        actor: { kind: 'agent', id: i % 3 === 0 ? 'ops-agent' : 'billing-agent' },
        session: `s-${i % 2}`,
        tool: i % 5 === 0 ? 'db.drop' : 'stripe.refund',
        triggeredBy: i % 4 === 0 ? 'alice' : 'bob',
        ...(i === 7 ? { approvers: ['carol', 'dave'] } : {}),
        ...(i % 5 === 0
          ? {
              decision: {
                effect: 'block',
                policyEffect: 'block',
                mode: 'enforce',
                ruleId: 'no-drops',
                matchedRuleIds: ['no-drops'],
                reasons: ['no'],
              },
            }
          : {}),
      }),
    );
    await fx.store.commit([{ events }]);
    const q = async (input: Record<string, unknown>) =>
      (await fx.store.queryAudit(parseAuditQuery({ limit: 1000, ...input }))).records.map((r) => r.seq);
    expect(await q({ agent: 'ops-agent' })).toHaveLength(10);
    expect(await q({ session: 's-1' })).toHaveLength(15);
    expect(await q({ tool: 'db.drop' })).toEqual([1, 6, 11, 16, 21, 26]);
    expect(await q({ decision: 'block' })).toEqual([1, 6, 11, 16, 21, 26]);
    expect(await q({ rule: 'no-drops', agent: 'ops-agent' })).toEqual([1, 16]);
    expect(await q({ triggeredBy: 'alice' })).toHaveLength(8);
    expect(await q({ approver: 'dave' })).toEqual([8]);
    expect(await q({ actor: 'ops-agent', tool: 'stripe.refund' })).toEqual([4, 7, 10, 13, 19, 22, 25, 28]);
    expect(await q({ from: '2026-01-01T00:10:00Z', to: '2026-01-01T00:12:00Z' })).toEqual([11, 12]);
    expect(await q({ from: '2026-01-01T01:10:00+01:00', to: '2026-01-01T00:11:00Z' })).toEqual([11]);
    expect(await q({ type: 'session.paused' })).toEqual([]);

    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await fx.store.queryAudit(parseAuditQuery({ limit: 7, ...(cursor ? { cursor } : {}) }));
      seen.push(...page.records.map((r) => r.seq));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('finds a call and refuses a second completion of it', async () => {
    const d = decided();
    await fx.store.commit([{ events: [d] }]);
    expect(await fx.store.findCall(d.callId as string)).toMatchObject({
      decided: { seq: 1 },
      completed: false,
    });
    const done = {
      ...d,
      id: uuidv7(),
      type: 'call.completed' as const,
      decision: undefined,
      outcome: { status: 'ok' as const },
    };
    await fx.store.commit([{ events: [done] }]);
    expect((await fx.store.findCall(d.callId as string)).completed).toBe(true);
    const again = fx.store.commit([{ events: [{ ...done, id: uuidv7() }] }]);
    await expect(again).rejects.toMatchObject({ code: 'CALL_ALREADY_COMPLETED' });
    expect((await fx.store.head()).seq).toBe(2);
    expect((await fx.store.findCall('nope')).decided).toBeUndefined();
  });

  it('applies a unit all or nothing: a refused mutation writes none of its events', async () => {
    const ts = new Date().toISOString();
    const refused = fx.store.commit([
      { events: [decided()] },
      {
        mutations: [
          { kind: 'session.state', id: 'missing', state: 'paused', from: ['active'], reason: null, ts },
        ],
        events: [decided()],
      },
    ]);
    await expect(refused).rejects.toMatchObject({ code: 'SESSION_NOT_FOUND' });
    expect((await fx.store.head()).seq).toBe(0);
  });

  it('keeps sessions and enforces their state transitions', async () => {
    const ts = new Date().toISOString();
    const s: SessionRecord = {
      id: 'sess-1',
      agent: 'billing-agent',
      state: 'active',
      stateReason: null,
      triggeredBy: 'alice',
      delegationChain: ['planner'],
      createdAt: ts,
      updatedAt: ts,
    };
    await fx.store.commit([{ mutations: [{ kind: 'session.ensure', session: s }], events: [decided()] }]);
    await fx.store.commit([
      { mutations: [{ kind: 'session.ensure', session: { ...s, agent: 'other' } }], events: [] },
    ]);
    expect(await fx.store.getSession('sess-1')).toEqual(s);
    const pause = {
      kind: 'session.state' as const,
      id: 'sess-1',
      state: 'paused' as const,
      from: ['active' as const],
      reason: 'loop',
      ts,
    };
    await fx.store.commit([{ mutations: [pause], events: [] }]);
    expect(await fx.store.getSession('sess-1')).toMatchObject({ state: 'paused', stateReason: 'loop' });
    await expect(fx.store.commit([{ mutations: [pause], events: [] }])).rejects.toMatchObject({
      code: 'SESSION_STATE',
    });
    expect(await fx.store.getSession('nope')).toBeUndefined();
  });

  it('signs chained checkpoints at the head, under the chain lock', async () => {
    await fx.store.commit([{ events: [decided(), decided()] }]);
    const [r1] = await fx.store.commit([{ events: [decided()], checkpoint: cpRequest() }]);
    expect(r1?.checkpoint).toMatchObject({
      seq: 3,
      hash: r1?.events[0]?.hash,
      prev: null,
      keyId: keys.keyId,
    });
    const [r2] = await fx.store.commit([{ events: [], checkpoint: cpRequest('periodic') }]);
    expect(r2?.checkpoint?.prev).toBe(checkpointDigest(r1?.checkpoint as never));
    expect(await fx.store.checkpoints()).toEqual([r1?.checkpoint, r2?.checkpoint]);
    expect(await fx.store.checkpoints({ fromSeq: 4 })).toEqual([]);
    expect((await verify()).ok).toBe(true);
  });

  it('registers public keys once', async () => {
    const ts = new Date().toISOString();
    const reg = { kind: 'key.register' as const, keyId: keys.keyId, pem: keys.publicPem, ts };
    await fx.store.commit([{ mutations: [reg], events: [] }]);
    await fx.store.commit([{ mutations: [reg], events: [] }]);
    expect(await fx.store.publicKeys()).toEqual([{ keyId: keys.keyId, pem: keys.publicPem }]);
  });

  it('purges only up to a checkpoint, never under a legal hold, and the rest still verifies', async () => {
    const old = Array.from({ length: 5 }, (_, i) =>
      decided({ ts: new Date(Date.UTC(2020, 0, 1, 0, i)).toISOString() }),
    );
    await fx.store.commit([{ events: old, checkpoint: cpRequest() }]);
    await fx.store.commit([{ events: [decided()] }]);
    expect(await fx.store.lastSeqBefore('2021-01-01T00:00:00.000Z')).toBe(5);
    expect(await fx.store.lastSeqBefore('2020-01-01T00:02:00.000Z')).toBe(2);
    const hold = { id: 'h1', reason: 'case 42', placedBy: 'legal', placedAt: new Date().toISOString() };
    await fx.store.commit([{ mutations: [{ kind: 'legal_hold.place', hold }], events: [] }]);
    expect(await fx.store.legalHolds()).toEqual([hold]);
    const purge = { kind: 'audit.purge' as const, throughSeq: 5 };
    const record = decided({ type: 'retention.purged', data: { throughSeq: 5 } });
    await expect(fx.store.commit([{ mutations: [purge], events: [record] }])).rejects.toMatchObject({
      code: 'LEGAL_HOLD_ACTIVE',
    });
    await fx.store.commit([{ mutations: [{ kind: 'legal_hold.release', id: 'h1' }], events: [] }]);
    await expect(
      fx.store.commit([{ mutations: [{ kind: 'audit.purge', throughSeq: 4 }], events: [] }]),
    ).rejects.toThrow(/checkpoint/);
    await fx.store.commit([{ mutations: [purge], events: [record] }]);
    expect(await fx.store.oldestEvent()).toMatchObject({ seq: 6 });
    expect(await verify()).toMatchObject({ ok: true, firstSeq: 6, lastSeq: 7 });
  });

  it('continues the chain after a purge of every event, from the anchoring checkpoint', async () => {
    const old = Array.from({ length: 3 }, (_, i) =>
      decided({ ts: new Date(Date.UTC(2020, 0, 1, 0, i)).toISOString() }),
    );
    const [r] = await fx.store.commit([{ events: old, checkpoint: cpRequest() }]);
    await fx.store.commit([{ mutations: [{ kind: 'audit.purge', throughSeq: 3 }], events: [] }]);
    expect(await fx.store.oldestEvent()).toBeUndefined();
    expect(await fx.store.head()).toEqual({ seq: 3, hash: r?.events[2]?.hash });
    const [next] = await fx.store.commit([
      { events: [decided({ type: 'retention.purged', data: { throughSeq: 3 } })] },
    ]);
    expect(next?.events[0]?.seq).toBe(4);
    expect(await verify()).toMatchObject({ ok: true, firstSeq: 4 });
  });

  it('serialises two instances into one gap-free chain', async () => {
    const other = await fx.reopen();
    try {
      const a = new GroupCommitter(fx.store);
      const b = new GroupCommitter(other);
      await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          (i % 2 ? a : b).submit({ events: [decided({ session: `s-${i}` })] }),
        ),
      );
      const report = await verify();
      expect(report).toMatchObject({ ok: true, checked: 400, lastSeq: 400 });
    } finally {
      await other.close();
    }
  });

  it('reports a failed batch per unit: the good units still commit', async () => {
    const c = new GroupCommitter(fx.store);
    const ts = new Date().toISOString();
    const results = await Promise.allSettled([
      c.submit({ events: [decided()] }),
      c.submit({
        mutations: [{ kind: 'session.state', id: 'x', state: 'paused', from: ['active'], reason: null, ts }],
        events: [decided()],
      }),
      c.submit({ events: [decided()] }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(isWardenError((results[1] as PromiseRejectedResult).reason, 'SESSION_NOT_FOUND')).toBe(true);
    expect((await verify()).checked).toBe(2);
  });
});
