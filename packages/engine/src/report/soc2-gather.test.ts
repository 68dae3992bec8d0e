import type { AuditEvent, AuditEventType, Soc2Report } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { testEngine } from '../../test-support/engine-fixtures.js';
import { HOSTILE_REASON, SOC2_PERIOD, seedSoc2 } from '../../test-support/soc2-seed.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import type { Engine } from '../engine/engine.js';
import { parseAuditQuery } from '../store/audit-query.js';
import { gatherSoc2Report } from './soc2-gather.js';

describe.each(DIALECTS)('the SOC 2 report from a seeded database (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine;
  let report: Soc2Report;

  beforeEach(async () => {
    fx = await freshStore(dialect);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse('2026-03-02T07:00:00Z'));
    engine = await testEngine(fx);
    await seedSoc2(engine, (ms) => vi.setSystemTime(ms));
    vi.useRealTimers();
    // A small page size: the period is read in many pages, as a long one would be.
    report = await gatherSoc2Report(fx.store, { period: SOC2_PERIOD, pageSize: 7 });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await engine?.close();
    await fx?.dispose();
  });

  /** The period's events of one type, read straight from the store: the independent count. */
  const inPeriod = async (type: AuditEventType, more: Record<string, unknown> = {}): Promise<AuditEvent[]> =>
    (
      await fx.store.queryAudit(parseAuditQuery({ ...SOC2_PERIOD, type, limit: 10_000, ...more }))
    ).records.map((r) => r.event);
  const all = async (type: AuditEventType) =>
    (await fx.store.queryAudit(parseAuditQuery({ type, limit: 10_000 }))).records.map((r) => r.event);

  it('counts exactly the events of the period, by type and effect', async () => {
    const page = await fx.store.queryAudit(parseAuditQuery({ ...SOC2_PERIOD, limit: 10_000 }));
    expect(report.events.total).toBe(page.records.length);
    expect(report.events.firstSeq).toBe(page.records[0]?.seq);
    expect(report.events.lastSeq).toBe(page.records.at(-1)?.seq);
    const byType: Record<string, number> = {};
    for (const r of page.records) byType[r.event.type] = (byType[r.event.type] ?? 0) + 1;
    expect(report.events.byType).toEqual(byType);
    for (const effect of ['allow', 'review', 'block'] as const) {
      const n = (await inPeriod('call.decided', { decision: effect })).length;
      expect(report.decisions[effect]).toBe(n);
      expect(report.decisions.series.reduce((s, b) => s + b[effect], 0)).toBe(n);
      expect(n).toBeGreaterThan(0);
    }
    expect(report.granularity).toBe('hour');
    expect(report.decisions.series).toHaveLength(24);
  });

  it('leaves out the events before and after the period', async () => {
    // Decoys: a block and a policy change on each side, an API key after.
    expect((await all('call.decided')).filter((e) => e.decision?.effect === 'block').length).toBeGreaterThan(
      report.decisions.block,
    );
    expect(report.access.policyChanges.total).toBe(1);
    expect((await all('policy.changed')).length).toBe(3);
    expect(report.access.keysCreated.items.map((k) => k.principal)).toEqual(['pay-agent']);
    expect(report.events.total).toBeLessThan((await fx.store.head()).seq);
  });

  it('CC6: the policy per agent at the end, its change, keys and grants', async () => {
    const [change] = await inPeriod('policy.changed');
    expect(report.access.policyChanges.items).toMatchObject([
      { by: 'human:dave', oldVersion: change?.data?.oldVersion, newVersion: change?.data?.newVersion },
    ]);
    const p = report.access.policyAtEnd;
    expect(p.version).toBe(change?.data?.newVersion);
    expect(p.agents?.find((a) => a.agent === 'pay-agent')).toEqual({
      agent: 'pay-agent',
      rules: 4,
      allow: 1,
      review: 1,
      block: 2,
      budgets: 1,
    });
    expect(p.agents?.map((a) => a.agent)).toEqual(['looper', 'pay-agent', '*']);
    expect(report.access.keysCreated.total).toBe((await inPeriod('api_key.created')).length);
    // The revoked key was issued before the period: its principal and role come from that event.
    expect(report.access.keysRevoked.items).toMatchObject([
      { by: 'human:admin', principal: 'olga', role: 'approver', reason: 'left the team' },
    ]);
    expect(report.access.grantsAdded.total).toBe((await inPeriod('grant.added')).length);
    expect(report.access.grantsRevoked.total).toBe((await inPeriod('grant.revoked')).length);
    // crm.read ran out after 30 min; crm.write was revoked before its expiry; crm.export expires later.
    expect(report.access.grantsExpired.items.map((g) => g.tool)).toEqual(['crm.read']);
  });

  it('CC7: blocked attempts by agent and by rule or code, breakers, denied and expired approvals', async () => {
    const blocked = await inPeriod('call.decided', { decision: 'block' });
    expect(report.operations.blocked).toBe(blocked.length);
    const sum = (rows: readonly { count: number }[]) => rows.reduce((s, r) => s + r.count, 0);
    expect(sum(report.operations.blockedByAgent.rows)).toBe(blocked.length);
    expect(sum(report.operations.blockedByRule.rows)).toBe(blocked.length);
    expect(report.operations.blockedByRule.rows.map((r) => r.key).sort()).toEqual(
      [
        'code BUDGET_EXCEEDED',
        'code RUNAWAY_DETECTED',
        'default block (no rule matched)',
        'rule no-drops',
      ].sort(),
    );
    expect(report.operations.breakerTrips.total).toBe((await inPeriod('breaker.tripped')).length);
    expect(report.operations.breakerTrips.items).toMatchObject([{ agent: 'looper', breaker: 'repeat' }]);
    const decided = await inPeriod('approval.decided');
    const outcome = (o: string) => decided.filter((e) => e.data?.outcome === o).length;
    expect(report.operations.approvalsDenied.total).toBe(outcome('denied'));
    expect(report.operations.approvalsExpired.total).toBe(outcome('expired'));
    expect(outcome('denied')).toBe(1);
    expect(outcome('expired')).toBe(1);
  });

  it('separation of duties: every decision checked, none violated, the refusals listed', async () => {
    const s = report.separation;
    expect(s.decided.total).toBe((await inPeriod('approval.decided')).length);
    expect(s.outcomes).toEqual({ approved: 1, denied: 1, expired: 1 });
    expect(s.checked).toBe(2);
    expect(s.votesChecked).toBe((await inPeriod('approval.voted')).length);
    expect(s.violations.total).toBe(0);
    const approved = s.decided.items.find((a) => a.outcome === 'approved');
    expect(approved).toMatchObject({
      agent: 'pay-agent',
      triggeredBy: 'alice',
      deciders: ['lee'],
      sod: 'ok',
    });
    expect(s.decided.items.find((a) => a.outcome === 'expired')?.sod).toBe('none');
    const refused = await inPeriod('approval.refused');
    expect(s.refused.total).toBe(refused.length);
    expect(s.refused.items.map((r) => [r.by, r.act, r.code])).toEqual([
      ['human:alice', 'vote:approve', 'APPROVAL_SELF_APPROVAL'],
      ['human:tom', 'resume', 'APPROVAL_SELF_APPROVAL'],
    ]);
  });

  it('budget incidents: breaches, alerts, pauses and how each was resolved', async () => {
    const b = report.budgets;
    expect(b.exceeded.total).toBe((await inPeriod('budget.exceeded')).length);
    expect(b.exceeded.items).toMatchObject([{ budgetId: 'session-calls', session: 's-budget', limit: 3 }]);
    expect(b.alerts.total).toBe((await inPeriod('budget.alert')).length);
    expect(b.pauses.total).toBe((await inPeriod('session.paused')).length);
    expect(b.pauses.items.map((p) => [p.session, p.code, p.resolution, p.resolvedBy])).toEqual([
      ['s-budget', 'BUDGET_EXCEEDED', 'resumed', 'human:ann'],
      ['s-loop', 'RUNAWAY_DETECTED', 'open', null],
    ]);
    expect(b.resolution).toEqual({ resumed: 1, closed: 0, open: 1 });
    expect(b.raised.items).toMatchObject([
      { session: 's-budget', budgetId: 'session-calls', from: 3, to: 10 },
    ]);
  });

  it('integrity: the whole chain verified and the checkpoint covering the period', async () => {
    const v = report.integrity.verify;
    expect(v.ok).toBe(true);
    expect(v.checked).toBe((await fx.store.head()).seq);
    const c = report.integrity.covering;
    expect(c?.seq).toBeGreaterThanOrEqual(report.events.lastSeq as number);
    const stored = await fx.store.checkpoints();
    const first = stored
      .filter((x) => x.seq >= (report.events.lastSeq as number))
      .sort((a, b) => a.seq - b.seq)[0];
    expect(c).toMatchObject({ seq: first?.seq, keyId: first?.keyId, ts: first?.ts, fromSeq: 1 });
    expect(report.integrity.trustedKeys).toBe('database');
  });

  it('says when no checkpoint covers a period yet, and keeps hostile text as data', async () => {
    const after = await gatherSoc2Report(fx.store, {
      period: { from: '2026-03-04T00:00:00Z', to: '2026-03-05T00:00:00Z' },
    });
    expect(after.events.total).toBeGreaterThan(0);
    expect(after.integrity.covering).toBeNull();
    expect(after.access.policyChanges.total).toBe(1);
    expect(report.access.grantsAdded.items.some((g) => g.reason === HOSTILE_REASON)).toBe(true);
  });
});
