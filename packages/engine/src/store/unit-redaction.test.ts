import { randomBytes } from 'node:crypto';
import type { Voter } from '@warden/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEngine, testPolicy } from '../../test-support/engine-fixtures.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import { createApiKey } from '../access/api-keys.js';
import { placeLegalHold } from '../audit/retention.js';
import type { Engine } from '../engine/engine.js';
import { pauseSession } from '../engine/session-control.js';
import type { Mutation } from './store.js';
import { redactUnit } from './unit-redaction.js';

const POLICY = `
name: unit redaction tests
redaction:
  fields: [customerSsn]
approverGroups:
  leads: [lee]
agents:
  pay-agent:
    rules:
      - id: pay-review
        effect: review
        tools: [pay]
        reason: payments need a lead
        approval: { approvers: { groups: [leads] }, timeout: 1h }
`;

const lee: Voter = { kind: 'human', id: 'lee', role: 'approver' };
const admin = { kind: 'human' as const, id: 'ada' };
const canary = (tag: string) => `sk-live-${tag}${randomBytes(12).toString('hex')}`;

describe.each(DIALECTS)('the commit path redacts what every service stores (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine;
  beforeEach(async () => {
    fx = await freshStore(dialect);
    engine = await testEngine(fx, { policy: testPolicy(POLICY) });
  });
  afterEach(async () => {
    await engine?.close();
    await fx?.dispose();
  });

  /** Every stored event body, as text. */
  const chain = async () => (await fx.store.readChain(0, 10_000)).map((r) => r.body).join('\n');

  it('state rows and events carry no secret typed into a reason, a vote, a label or a policy field', async () => {
    const s = {
      label: canary('LABEL'),
      ssn: '123-45-6789',
      vote: canary('VOTE'),
      grant: canary('GRANT'),
      pause: canary('PAUSE'),
      hold: canary('HOLD'),
      keyLabel: canary('KEYLABEL'),
    };
    const review = await engine.check({
      agent: 'pay-agent',
      tool: 'pay',
      args: { amount: 5 },
      session: 's1',
      labels: { ticket: `see ${s.label}`, customerSsn: s.ssn },
    });
    expect(review.effect).toBe('review');
    const approvalId = review.approval?.id as string;
    await engine.approvals.vote(approvalId, lee, 'approve', { reason: `fine, token=${s.vote}` });
    const grant = await engine.grants.add(
      { agent: 'pay-agent', tool: 'pay', session: 's1', reason: `because ${s.grant}` },
      admin,
    );
    await pauseSession(engine, 's1', admin, `leaked ${s.pause}`);
    await placeLegalHold(engine, admin, `matter ${s.hold}`);
    await createApiKey(
      engine,
      { principalKind: 'human', principal: 'bo', role: 'auditor', label: `old key ${s.keyLabel}` },
      admin,
    );

    const rows = JSON.stringify([
      await fx.store.approval(approvalId),
      await fx.store.grant(grant.id),
      await fx.store.getSession('s1'),
      await fx.store.legalHolds(),
      await fx.store.apiKeys(),
    ]);
    const stored = `${rows}\n${await chain()}`;
    for (const [where, secret] of Object.entries(s)) expect(stored, where).not.toContain(secret);
    // What was removed is recorded, where it was.
    const decided = (await fx.store.findCall(review.callId)).decided?.event;
    expect(decided?.labels).toEqual({ ticket: 'see [REDACTED:api_key]', customerSsn: '[REDACTED:field]' });
    expect(decided?.redactions).toEqual([
      { path: 'labels.ticket', kind: 'api_key' },
      { path: 'labels.customerSsn', kind: 'field' },
    ]);
    expect((await fx.store.approval(approvalId))?.votes[0]?.reason).toBe('fine, token=[REDACTED:api_key]');
  });

  it('a session id that looks like a credential is a CALL_INVALID block naming the field, not stored', async () => {
    const secret = canary('SESSION');
    const r = await engine.check({ agent: 'pay-agent', tool: 'pay', session: secret });
    expect(r).toMatchObject({ effect: 'block', code: 'CALL_INVALID' });
    expect(r.reasons.join(' ')).toMatch(/session: session looks like a credential \(api_key\)/);
    expect(r.session).not.toBe(secret);
    expect(await chain()).not.toContain(secret);
  });
});

describe('every mutation kind is classified', () => {
  it('a kind the redaction does not know is refused, not stored unredacted', () => {
    const unknown = { kind: 'budget.note', text: canary('NOTE') } as unknown as Mutation;
    expect(() => redactUnit({ events: [], mutations: [unknown] }, [])).toThrow(
      /mutation kind "budget.note" is not classified for redaction/,
    );
  });

  it('the unit committed for a refused reservation is redacted as it is built', () => {
    const secret = canary('REFUSED');
    const line = {
      key: 'b|agent:a|w',
      budgetId: 'b',
      scopeKey: 'agent:a',
      metric: 'calls' as const,
      window: 'hour' as const,
      windowStart: 'w',
      windowEnd: 'x',
      limit: 1,
      amount: 1,
    };
    const reserve = {
      id: 'res_1',
      callId: 'c1',
      session: 's1',
      agent: 'a',
      lines: [line],
      state: 'held' as const,
      createdAt: 'w',
      leaseUntil: 'x',
      updatedAt: 'w',
    };
    const pause: Mutation = {
      kind: 'session.state',
      id: 's1',
      state: 'paused',
      from: ['active'],
      reason: `spent, token=${secret}`,
      ts: 'w',
    };
    const out = redactUnit(
      { events: [], reserve, onRefused: () => ({ events: [], mutations: [pause] }) },
      [],
    );
    const refused = { ok: false as const, line, used: 1, reserved: 0, limit: 1 };
    const built = JSON.stringify(out.onRefused?.(refused));
    expect(built).toContain('token=[REDACTED:api_key]');
    expect(built).not.toContain(secret);
  });

  it('a notification enqueued with an error text has it redacted', () => {
    const secret = canary('ENQUEUE');
    const notification = {
      id: 'n1',
      target: 'hook',
      eventType: 'approval.requested',
      eventId: 'e1',
      approvalId: null,
      state: 'pending' as const,
      attempts: 0,
      createdAt: '2026-01-01T00:00:00.000Z',
      leaseOwner: null,
      leaseUntil: null,
      lastError: `refused: token=${secret}`,
      updatedAt: '2026-01-01T00:00:00.000Z',
    };
    const out = redactUnit({ events: [], mutations: [{ kind: 'notification.enqueue', notification }] }, []);
    expect(JSON.stringify(out)).not.toContain(secret);
  });
});
