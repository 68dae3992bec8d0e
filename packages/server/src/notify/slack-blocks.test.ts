import type { ApprovalRecord } from '@warden/core';
import { describe, expect, it } from 'vitest';
import { slackOutcomeMessage, slackRequestMessage } from './slack-blocks.js';
import { initiatorProofText } from './slack-notifier.js';

const LONG = 'x'.repeat(600);
const ONE_APPROVER: ApprovalRecord['requirements'][number] = {
  approvers: { roles: ['approver'], principals: [], groups: [], agents: [] },
  quorum: 1,
  requireEach: [],
  denyThreshold: 1,
  timeoutMs: 3_600_000,
  onTimeout: 'block',
  requireReason: false,
};
const base: ApprovalRecord = {
  id: '019af0c2-7d1e-7000-8000-000000000001',
  callId: '019af0c2-7d1e-7000-8000-000000000002',
  version: 1,
  status: 'pending',
  agent: `agent-${LONG}`,
  session: `session-${LONG}`,
  tool: `tool-<!channel>-${LONG}`,
  args: { query: `<https://evil.example|click me> ${'y'.repeat(100_000)}`, fence: '```closed early?' },
  argsHmac: 'h',
  target: null,
  ruleId: `rule-${LONG}`,
  policyVersion: 'v',
  reasons: Array.from({ length: 40 }, (_, i) => `reason ${i} <@U0BOSS> ${LONG}`),
  triggeredBy: 'mallory <!here>',
  delegationChain: ['planner', 'worker'],
  requirements: [ONE_APPROVER],
  groups: {},
  requireReason: false,
  onTimeout: 'block',
  createdAt: '2026-12-07T20:00:00.000Z',
  expiresAt: '2026-12-07T21:00:00.000Z',
  escalateAt: null,
  escalated: false,
  votes: [],
  decidedAt: null,
  decidedBy: null,
  outcomeReason: null,
  override: false,
  usedAt: null,
  usedByCall: null,
  updatedAt: '2026-12-07T20:00:00.000Z',
};

// biome-ignore lint/suspicious/noExplicitAny: Block Kit JSON is walked field by field here.
type Block = Record<string, any>;

/** Slack's Block Kit limits that refuse a message (invalid_blocks) when broken. */
function expectWithinSlackLimits(blocks: Block[], text: string): void {
  expect(blocks.length).toBeLessThanOrEqual(50);
  expect(text.length).toBeLessThanOrEqual(40_000);
  for (const b of blocks) {
    if (b.type === 'header') expect(b.text.text.length).toBeLessThanOrEqual(150);
    if (b.type === 'section') {
      if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(3_000);
      if (b.fields) {
        expect(b.fields.length).toBeLessThanOrEqual(10);
        for (const f of b.fields) expect(f.text.length).toBeLessThanOrEqual(2_000);
      }
    }
    if (b.type === 'actions') {
      expect(b.elements.length).toBeLessThanOrEqual(25);
      for (const e of b.elements) {
        expect(e.text.text.length).toBeLessThanOrEqual(75);
        expect(e.action_id.length).toBeLessThanOrEqual(255);
        if (e.value) expect(e.value.length).toBeLessThanOrEqual(2_000);
      }
    }
  }
}

/** Every mrkdwn text object in the blocks. */
function mrkdwnTexts(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(mrkdwnTexts);
  if (typeof value !== 'object' || value === null) return [];
  const o = value as Block;
  const own = o.type === 'mrkdwn' && typeof o.text === 'string' ? [o.text] : [];
  return [...own, ...Object.values(o).flatMap(mrkdwnTexts)];
}

describe('Slack Block Kit messages', () => {
  it('fit Slack limits whatever the request holds, and user text cannot mention or link', () => {
    const m = slackRequestMessage(base, 'approval.requested', {
      dashboardUrl: 'https://w.example/approvals/1',
    });
    expectWithinSlackLimits(m.blocks, m.text);
    // Slack reads mentions and links in mrkdwn text (and the fallback text), never in plain_text.
    const mrkdwn = [m.text, ...mrkdwnTexts(m.blocks)].join('\n');
    for (const raw of ['<!channel>', '<!here>', '<@U0BOSS>', '<https://evil.example'])
      expect(mrkdwn).not.toContain(raw);
    expect(mrkdwn).toContain('&lt;!here&gt;');
    expect(mrkdwn).toContain('&lt;!channel&gt;');
    // The arguments stay in one code block: three backticks inside cannot close it.
    const args = m.blocks.find((b) => JSON.stringify(b).includes('Arguments')) as Block;
    expect((args.text.text as string).match(/```/g)).toHaveLength(2);
    const actions = m.blocks.find((b) => b.type === 'actions') as Block;
    expect(actions.elements.map((e: Block) => [e.action_id, e.style, e.value ?? e.url])).toEqual([
      ['warden_approve', 'primary', base.id],
      ['warden_deny', 'danger', base.id],
      ['warden_open', undefined, base.id],
    ]);
  });

  it('after a decision: who decided and through what, without the voting buttons', () => {
    const approved: ApprovalRecord = {
      ...base,
      status: 'approved',
      votes: [
        {
          principal: 'olga@x',
          kind: 'human',
          role: 'approver',
          vote: 'approve',
          ts: base.createdAt,
          via: 'slack',
        },
      ],
    };
    const m = slackOutcomeMessage(approved);
    expectWithinSlackLimits(m.blocks, m.text);
    expect(JSON.stringify(m.blocks)).toContain('*Approved* by olga@x (slack)');
    expect(m.text).toMatch(/^Approved: .*Approved by olga@x \(slack\)/);
    expect(m.blocks.some((b) => b.type === 'actions')).toBe(false);
    const pending = slackOutcomeMessage(
      { ...base, requirements: [{ ...ONE_APPROVER, quorum: 2 }], votes: approved.votes },
      {},
      { by: 'olga@x', vote: 'approve' },
    );
    expect(JSON.stringify(pending.blocks)).toContain(
      'olga@x approved from Slack. Still pending: 1 of 2 approvals',
    );
    const stillOpen = pending.blocks.find((b) => b.type === 'actions') as Block;
    expect(stillOpen.elements.map((e: Block) => e.action_id)).toEqual(['warden_approve', 'warden_deny']);
  });

  it('says how the human who triggered the call was verified, as the decision recorded it', () => {
    expect(initiatorProofText(undefined)).toBeUndefined();
    expect(initiatorProofText({ method: 'claimed' })).toBe('claimed, unverified');
    expect(initiatorProofText({ method: 'oidc', issuer: 'https://idp.example.com', subject: 's' })).toBe(
      'verified by SSO: https://idp.example.com',
    );
    expect(initiatorProofText({ method: 'api_key', keyId: 'key_1' })).toBe(
      'vouched for by service key key_1',
    );
    const m = slackRequestMessage(base, 'approval.requested', { initiatorProof: 'claimed, unverified' });
    // A field of its own: appended to the agent-written name, "(verified by SSO: …)" could be faked.
    const fields = (m.blocks[1] as { fields: { text: string }[] }).fields.map((f) => f.text);
    expect(fields).toContain('*Triggered by*\nmallory &lt;!here&gt;');
    expect(fields).toContain('*Initiator proof*\nclaimed, unverified');
    const unrecorded = slackRequestMessage(base, 'approval.requested');
    expect(JSON.stringify(unrecorded.blocks)).toContain('*Initiator proof*\\nnot recorded');
  });

  it('sends every mrkdwn text verbatim, so Slack links no URL, channel or mention in request data', () => {
    const a = { ...base, args: { note: 'see https://evil.example #general @channel' } };
    for (const m of [
      slackRequestMessage(a, 'approval.requested'),
      slackOutcomeMessage({ ...a, status: 'denied', outcomeReason: 'https://evil.example' }),
    ]) {
      const texts: Record<string, unknown>[] = [];
      JSON.stringify(m.blocks, (_k, v) => {
        if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'mrkdwn') texts.push(v);
        return v;
      });
      expect(texts.length).toBeGreaterThan(5);
      for (const t of texts) expect(t).toMatchObject({ verbatim: true });
    }
  });
});
