import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../audit/audit-event.js';
import { isWardenError } from '../errors/warden-error.js';
import { compilePolicy } from './policy-compiler.js';
import { PolicyReplayer, recordedBasis, replayEvents } from './policy-replay.js';
import { ReplayReportSchema } from './replay-report.js';
import { replayWindow } from './replay-window.js';

const OLD = `
name: old
agents:
  bot:
    rules:
      - { id: refunds-small, effect: allow, tools: [refund], when: 'args.amount <= 100' }
      - { id: refunds-large, effect: review, tools: [refund], when: 'args.amount > 100' }
      - { id: reads, effect: allow, tools: ["read.*"] }
      - { id: deploys, effect: allow, tools: [deploy] }
`;

const NEW = `
name: new
agents:
  bot:
    rules:
      - { id: refunds-tiny, effect: allow, tools: [refund], when: 'args.amount <= 20' }
      - { id: refunds-rest, effect: review, tools: [refund], when: 'args.amount > 20' }
      - { id: no-secrets, effect: block, tools: ["read.*"], when: 'args.path.startsWith("/secrets")' }
      - { id: reads, effect: allow, tools: ["read.*"] }
      - { id: night-deploys, effect: block, tools: [deploy], when: 'now.getHours("UTC") < 6' }
      - { id: deploys, effect: allow, tools: [deploy] }
      - { id: tickets, effect: allow, tools: [tickets.open] }
`;

const WINDOW = { from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z', agent: null };
let n = 0;

/** A recorded call.decided event as the engine writes it. */
function recorded(
  tool: string,
  args: Record<string, unknown>,
  decision: Partial<NonNullable<AuditEvent['decision']>> &
    Pick<NonNullable<AuditEvent['decision']>, 'effect'>,
  over: Partial<AuditEvent> = {},
): AuditEvent {
  const id = `call-${String(++n).padStart(3, '0')}`;
  return {
    id,
    callId: id,
    ts: '2026-01-10T12:00:00.000Z',
    type: 'call.decided',
    actor: { kind: 'agent', id: 'bot' },
    agent: 'bot',
    session: 's1',
    tool,
    args,
    decision: {
      policyEffect: decision.effect,
      mode: 'enforce',
      ruleId: null,
      matchedRuleIds: [],
      reasons: [],
      ...decision,
    },
    ...over,
  };
}

describe('policy replay', () => {
  it('groups the calls whose decision changes, counts them, and leaves the rest unchanged', () => {
    const events = [
      recorded('refund', { amount: 50 }, { effect: 'allow', ruleId: 'refunds-small' }),
      recorded('refund', { amount: 10 }, { effect: 'allow', ruleId: 'refunds-small' }),
      recorded('refund', { amount: 60 }, { effect: 'allow', ruleId: 'refunds-small' }),
      recorded('refund', { amount: 500 }, { effect: 'review', ruleId: 'refunds-large' }),
      recorded('read.file', { path: '/secrets/key' }, { effect: 'allow', ruleId: 'reads' }),
      recorded('read.file', { path: '/docs/a' }, { effect: 'allow', ruleId: 'reads' }),
    ];
    const report = replayEvents(compilePolicy(NEW), events, { window: WINDOW });
    expect(ReplayReportSchema.parse(report)).toEqual(report);
    expect(report.totals).toEqual({
      recorded: 6,
      replayed: 6,
      unchanged: 1,
      changed: 5,
      effectChanged: 3,
      uncertain: 0,
      viaGrant: 0,
      notCompared: 0,
    });
    expect(report.changes.map((g) => [g.from, g.to, g.count, g.samples.map((s) => s.callId)])).toEqual([
      [
        { effect: 'allow', ruleId: 'refunds-small' },
        { effect: 'review', ruleId: 'refunds-rest' },
        2,
        ['call-001', 'call-003'],
      ],
      [
        { effect: 'allow', ruleId: 'refunds-small' },
        { effect: 'allow', ruleId: 'refunds-tiny' },
        1,
        ['call-002'],
      ],
      [{ effect: 'allow', ruleId: 'reads' }, { effect: 'block', ruleId: 'no-secrets' }, 1, ['call-005']],
      [
        { effect: 'review', ruleId: 'refunds-large' },
        { effect: 'review', ruleId: 'refunds-rest' },
        1,
        ['call-004'],
      ],
    ]);
    expect(report.transitions).toEqual([
      { from: 'allow', to: 'review', count: 2 },
      { from: 'allow', to: 'allow', count: 1 },
      { from: 'allow', to: 'block', count: 1 },
      { from: 'review', to: 'review', count: 1 },
    ]);
    expect(report.policy).toMatchObject({ name: 'new', mode: 'enforce' });
    expect(report.complete).toBe(true);
  });

  it('reports the same for the same calls whatever the order of equal groups', () => {
    const a = recorded('refund', { amount: 50 }, { effect: 'allow', ruleId: 'refunds-small' });
    const b = recorded('read.file', { path: '/secrets/x' }, { effect: 'allow', ruleId: 'reads' });
    const policy = compilePolicy(NEW);
    const one = replayEvents(policy, [a, b], { window: WINDOW });
    const two = replayEvents(policy, [b, a], { window: WINDOW });
    expect(one.changes.map((g) => g.to.ruleId)).toEqual(['refunds-rest', 'no-secrets']);
    expect(two.changes).toEqual(one.changes);
  });

  it('evaluates each call at the time it was recorded', () => {
    const night = recorded(
      'deploy',
      {},
      { effect: 'allow', ruleId: 'deploys' },
      { ts: '2026-01-10T03:00:00.000Z' },
    );
    const day = recorded(
      'deploy',
      {},
      { effect: 'allow', ruleId: 'deploys' },
      { ts: '2026-01-10T15:00:00.000Z' },
    );
    const report = replayEvents(compilePolicy(NEW), [night, day], { window: WINDOW });
    expect(report.totals).toMatchObject({ replayed: 2, changed: 1, unchanged: 1 });
    expect(report.changes[0]?.samples.map((s) => s.callId)).toEqual([night.id]);
    expect(report.changes[0]?.to).toEqual({ effect: 'block', ruleId: 'night-deploys' });
  });

  it('compares what the policy decided in monitor mode, not the allow the caller got', () => {
    const monitored = recorded(
      'tickets.open',
      {},
      { effect: 'allow', policyEffect: 'block', mode: 'monitor' },
    );
    const report = replayEvents(compilePolicy(NEW), [monitored], { window: WINDOW });
    expect(report.changes).toMatchObject([
      { from: { effect: 'block', ruleId: null }, to: { effect: 'allow', ruleId: 'tickets' }, count: 1 },
    ]);
    expect(report.notes.join('\n')).toMatch(/Monitor mode: compared by what the policy decided/);
  });

  it("compares a call a grant let through as the policy's default block", () => {
    const granted = recorded(
      'tickets.open',
      {},
      { effect: 'allow', policyEffect: 'allow', grantId: 'grt_1' },
    );
    const alsoGranted = recorded(
      'wiki.edit',
      {},
      { effect: 'allow', policyEffect: 'allow', grantId: 'grt_2' },
    );
    expect(recordedBasis(granted)).toEqual({
      kind: 'policy',
      decision: { effect: 'block', ruleId: null },
      viaGrant: true,
    });
    const report = replayEvents(compilePolicy(NEW), [granted, alsoGranted], { window: WINDOW });
    // tickets.open now has a rule; wiki.edit is still the default block a grant may lift: unchanged.
    expect(report.totals).toMatchObject({ replayed: 2, changed: 1, unchanged: 1, viaGrant: 2 });
    expect(report.changes[0]).toMatchObject({
      from: { effect: 'block', ruleId: null },
      to: { effect: 'allow', ruleId: 'tickets' },
      samples: [{ callId: granted.id, viaGrant: true }],
    });
    expect(report.notes.join('\n')).toMatch(/2 call\(s\) ran under a grant/);
  });

  it('does not compare calls the engine decided without or over the policy, and counts them by code', () => {
    const events = [
      recorded('refund', { amount: 5 }, { effect: 'block', policyEffect: 'block', code: 'SESSION_PAUSED' }),
      recorded('refund', { amount: 5 }, { effect: 'block', policyEffect: 'block', code: 'SESSION_PAUSED' }),
      recorded('refund', { amount: 5 }, { effect: 'block', policyEffect: 'block', code: 'BUDGET_EXCEEDED' }),
      recorded('x', {}, { effect: 'block', code: 'CALL_INVALID' }, { tool: undefined }),
      recorded('refund', { amount: 5 }, { effect: 'allow', ruleId: 'refunds-small' }),
    ];
    const report = replayEvents(compilePolicy(NEW), events, { window: WINDOW });
    expect(report.totals).toMatchObject({ recorded: 5, replayed: 1, notCompared: 4, changed: 1 });
    expect(report.notCompared).toEqual([
      { code: 'SESSION_PAUSED', count: 2 },
      { code: 'BUDGET_EXCEEDED', count: 1 },
      { code: 'CALL_INVALID', count: 1 },
    ]);
    expect(report.notes.join('\n')).toMatch(
      /4 call\(s\) were decided by the engine without or over the policy \(SESSION_PAUSED 2, BUDGET_EXCEEDED 1, CALL_INVALID 1\)/,
    );
  });

  it('says when the candidate does not name the agents whose calls it replays', () => {
    const report = replayEvents(
      compilePolicy(NEW),
      [recorded('refund', { amount: 5 }, { effect: 'allow' }, { agent: 'stranger' })],
      { window: WINDOW },
    );
    expect(report.notes.join('\n')).toMatch(
      /1 replayed call\(s\) were by agents the new policy does not name \(stranger 1\)/,
    );
  });

  it('compares an approved call once: by its review, not again when it goes ahead on the approval', () => {
    const held = recorded(
      'refund',
      { amount: 120 },
      { effect: 'review', ruleId: 'refunds-review', approvalId: 'apr_1' },
    );
    const ran = recorded(
      'refund',
      { amount: 120 },
      { effect: 'allow', policyEffect: 'review', ruleId: 'refunds-review', approvalId: 'apr_1' },
    );
    const report = replayEvents(compilePolicy(NEW), [held, ran], { window: WINDOW });
    expect(report.totals).toMatchObject({ recorded: 2, replayed: 1, notCompared: 1 });
    expect(report.notCompared).toEqual([{ code: 'APPROVAL_REDEEMED', count: 1 }]);
    expect(report.notes.join('\n')).toMatch(/1 call\(s\) went ahead on an approval/);
    expect(report.notes.join('\n')).not.toMatch(/decided by the engine/);
  });

  it('flags calls whose new decision reads a value stored redacted or capped', () => {
    const redactedArg = recorded(
      'read.file',
      { path: '[REDACTED:field]' },
      { effect: 'allow', ruleId: 'reads' },
      { redactions: [{ path: 'args.path', kind: 'field' }] },
    );
    // deploy's rules read only `now`: a redacted argument cannot change its decision.
    const redactedIrrelevant = recorded(
      'deploy',
      { token: '[REDACTED:bearer_token]' },
      { effect: 'allow', ruleId: 'deploys' },
      { redactions: [{ path: 'args.token', kind: 'bearer_token' }], ts: '2026-01-10T03:00:00.000Z' },
    );
    const capped = recorded(
      'refund',
      { amount: 50, note: 'xxx… [truncated 70000 bytes]' },
      { effect: 'allow', ruleId: 'refunds-small' },
      { flags: ['truncated'] },
    );
    // refund's rules read args.amount only: a redacted note cannot change the decision.
    const redactedUnread = recorded(
      'refund',
      { amount: 50, note: 'key [REDACTED:api_key]' },
      { effect: 'allow', ruleId: 'refunds-small' },
      { redactions: [{ path: 'args.note', kind: 'api_key' }] },
    );
    const report = replayEvents(
      compilePolicy(NEW),
      [redactedArg, redactedIrrelevant, capped, redactedUnread],
      { window: WINDOW },
    );
    expect(report.totals).toMatchObject({ replayed: 4, uncertain: 2, changed: 3 });
    const samples = report.changes.flatMap((g) => g.samples.map((s) => [s.callId, s.uncertain]));
    expect(samples).toEqual(
      expect.arrayContaining([
        [redactedIrrelevant.id, false],
        [capped.id, true],
        [redactedUnread.id, false],
      ]),
    );
    // The redacted path no longer starts with /secrets: unchanged, yet uncertain.
    expect(samples.some(([id]) => id === redactedArg.id)).toBe(false);
    expect(report.notes.join('\n')).toMatch(/2 replayed call\(s\) are uncertain/);
  });

  it('counts a condition that can reach any argument as reading the redacted one', () => {
    const policy = compilePolicy(`
agents:
  bot:
    rules:
      - { id: many, effect: review, tools: [a], when: 'size(args) > 1' }
      - { id: scan, effect: review, tools: [b], when: 'args.exists(k, k == "x")' }
      - { id: named, effect: review, tools: [c], when: 'args.?other.orValue(0) > 1' }
`);
    const redacted = (tool: string) =>
      recorded(
        tool,
        { token: '[REDACTED:field]' },
        { effect: 'block' },
        {
          redactions: [{ path: 'args.token', kind: 'field' }],
        },
      );
    const report = replayEvents(policy, ['a', 'b', 'c'].map(redacted), { window: WINDOW });
    expect(report.totals).toMatchObject({ replayed: 3, uncertain: 2 });
  });

  it('keeps at most samplesPerGroup examples per group while counting every call', () => {
    const replayer = new PolicyReplayer(compilePolicy(NEW), { window: WINDOW, samplesPerGroup: 3 });
    const events = Array.from({ length: 25 }, () =>
      recorded('refund', { amount: 50 }, { effect: 'allow', ruleId: 'refunds-small' }),
    );
    for (const e of events) replayer.add(e);
    replayer.add({ ...events[0], type: 'call.completed' } as AuditEvent);
    const report = replayer.report(false);
    expect(report.totals).toMatchObject({ recorded: 25, changed: 25 });
    expect(report.changes[0]?.count).toBe(25);
    expect(report.changes[0]?.samples.map((s) => s.callId)).toEqual(events.slice(0, 3).map((e) => e.id));
    expect(report.complete).toBe(false);
    expect(report.notes.at(-1)).toMatch(/stopped at the limit/);
  });

  it('finds nothing to change when the policy is the one that decided', () => {
    const events = [
      recorded('refund', { amount: 50 }, { effect: 'allow', ruleId: 'refunds-small' }),
      recorded('refund', { amount: 500 }, { effect: 'review', ruleId: 'refunds-large' }),
      recorded('nope', {}, { effect: 'block' }),
    ];
    const report = replayEvents(compilePolicy(OLD), events, { window: WINDOW });
    expect(report.totals).toMatchObject({ replayed: 3, unchanged: 3, changed: 0 });
    expect(report.changes).toEqual([]);
    expect(report.transitions).toEqual([]);
  });
});

describe('replayWindow', () => {
  const now = Date.parse('2026-03-10T12:00:00Z');

  it('reads ages, ISO times and dates, and defaults to the last 7 days', () => {
    expect(replayWindow({}, now)).toEqual({
      from: '2026-03-03T12:00:00.000Z',
      to: '2026-03-10T12:00:00.000Z',
    });
    expect(replayWindow({ since: '12h', until: '1h' }, now)).toEqual({
      from: '2026-03-10T00:00:00.000Z',
      to: '2026-03-10T11:00:00.000Z',
    });
    expect(replayWindow({ since: '2026-03-01', until: '2026-03-02T01:00:00+01:00' }, now)).toEqual({
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-02T00:00:00.000Z',
    });
  });

  it('refuses what is not a time, and a range that ends before it starts', () => {
    for (const range of [
      { since: 'last week' },
      { since: '7d', until: 'tomorrow' },
      { since: '1h', until: '2h' },
    ]) {
      let err: unknown;
      try {
        replayWindow(range, now);
      } catch (e) {
        err = e;
      }
      expect(isWardenError(err, 'QUERY_INVALID'), String(err)).toBe(true);
    }
  });
});
