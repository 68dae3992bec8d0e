import { describe, expect, it } from 'vitest';
import {
  type ApprovalNotification,
  type ApprovalSummary,
  buildJsonBody,
  buildSlackMessage,
  buildWebhookBody,
  escapeSlack,
  SLACK_ARGS_LIMIT,
} from './webhook-payload.js';

const approval: ApprovalSummary = {
  id: 'apr_1',
  callId: 'call_1',
  status: 'pending',
  agent: 'support-bot',
  session: 'ses_1',
  tool: 'billing.refund',
  args: { amount: 5000, note: 'refund <@U123> & <!channel>' },
  ruleId: 'big-refund-review',
  reasons: ['refunds over 100 need a <b>manager</b>'],
  triggeredBy: 'alice@example.com',
  delegationChain: ['planner-bot'],
  expiresAt: '2026-03-01T13:00:00.000Z',
  requireReason: true,
  progress: [{ approvals: 0, quorum: 1, missingGroups: ['managers'], denials: 0, denyThreshold: 1 }],
};
const links = {
  approve: 'https://w.example/a?t=1',
  deny: 'https://w.example/d?t=2',
  view: 'https://w.example/v',
};
const meta = { id: 'evt_1', ts: new Date('2026-03-01T12:00:00Z') };

type Block = { type: string; text?: { text: string }; fields?: { text: string }[]; elements?: unknown[] };
const blocks = (n: ApprovalNotification) => buildSlackMessage(n).blocks as Block[];
const actions = (n: ApprovalNotification) => blocks(n).find((b) => b.type === 'actions')?.elements;
const allText = (n: ApprovalNotification) => JSON.stringify(buildSlackMessage(n));

describe('JSON webhook bodies', () => {
  it('carry the type, event id, time, approval summary and links', () => {
    const body = buildJsonBody({ kind: 'approval.requested', approval, links }, meta);
    expect(body).toEqual({
      type: 'approval.requested',
      id: 'evt_1',
      ts: '2026-03-01T12:00:00.000Z',
      approval,
      links,
    });
    expect(
      buildWebhookBody('json', { kind: 'approval.decided', approval }, { id: 'e', ts: 'x' }),
    ).toMatchObject({
      type: 'approval.decided',
      ts: 'x',
      links: {},
    });
  });

  it('leave out fields beyond the summary and null optionals', () => {
    const view = { ...approval, argsHmac: 'secret-ish', votes: [], triggeredBy: null, decidedBy: null };
    const body = buildJsonBody({ kind: 'approval.requested', approval: view }, meta);
    expect(body.approval).not.toHaveProperty('argsHmac');
    expect(body.approval).not.toHaveProperty('votes');
    expect(body.approval).not.toHaveProperty('triggeredBy');
    expect(body.approval).not.toHaveProperty('decidedBy');
  });
});

describe('Slack messages', () => {
  it('show the facts, the reason, the arguments and Approve / Deny / View buttons', () => {
    const n: ApprovalNotification = { kind: 'approval.requested', approval, links };
    const msg = buildSlackMessage(n);
    expect(msg.text).toBe('Approval needed: support-bot wants to run billing.refund');
    expect(msg.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text' } });
    const fields = (blocks(n)[1]?.fields ?? []).map((f) => f.text).join('\n');
    for (const fact of [
      'support-bot',
      'billing.refund',
      'big-refund-review',
      'alice@example.com',
      'planner-bot',
    ]) {
      expect(fields).toContain(fact);
    }
    expect(fields).toContain('<!date^1772370000^{date_short_pretty} {time}|2026-03-01T13:00:00.000Z>');
    expect(allText(n)).toContain('```{');
    expect(allText(n)).toContain('A reason is required');
    expect(actions(n)).toEqual([
      {
        type: 'button',
        text: { type: 'plain_text', text: 'Approve' },
        url: links.approve,
        action_id: 'warden_approve',
        style: 'primary',
      },
      {
        type: 'button',
        text: { type: 'plain_text', text: 'Deny' },
        url: links.deny,
        action_id: 'warden_deny',
        style: 'danger',
      },
      {
        type: 'button',
        text: { type: 'plain_text', text: 'View' },
        url: links.view,
        action_id: 'warden_view',
      },
    ]);
  });

  it('have buttons only for the links given, and no voting buttons once decided', () => {
    expect(actions({ kind: 'approval.requested', approval })).toBeUndefined();
    expect(actions({ kind: 'approval.escalated', approval, links: {} })).toBeUndefined();
    expect(actions({ kind: 'approval.escalated', approval, links: { approve: links.approve } })).toHaveLength(
      1,
    );
    const decided: ApprovalNotification = {
      kind: 'approval.decided',
      approval: { ...approval, status: 'denied', decidedBy: 'bob', outcomeReason: 'too <much>' },
      links,
    };
    expect(actions(decided)).toEqual([
      expect.objectContaining({ text: { type: 'plain_text', text: 'View' } }),
    ]);
    expect(buildSlackMessage(decided).text).toBe('Approval denied: support-bot → billing.refund');
    expect(allText(decided)).toContain('too &lt;much&gt;');
    expect(allText(decided)).not.toContain('A reason is required');
  });

  it('escape &, < and > in everything people or agents supply', () => {
    const hostile: ApprovalSummary = {
      ...approval,
      agent: '<!here>',
      tool: 'a&b',
      triggeredBy: '<https://evil.example|click>',
    };
    const n: ApprovalNotification = { kind: 'approval.requested', approval: hostile };
    // Everything but the header, which is plain text: Slack shows it literally and parses no mentions.
    const msg = buildSlackMessage(n);
    const text = JSON.stringify({ ...msg, blocks: msg.blocks.slice(1) });
    expect(text).not.toContain('<!here>');
    expect(text).not.toContain('<!channel>');
    expect(text).not.toContain('<@U123>');
    expect(text).not.toContain('<https://evil');
    expect(text).toContain('&lt;!here&gt;');
    expect(text).toContain('a&amp;b');
    expect(text).toContain('&lt;b&gt;manager&lt;/b&gt;');
    expect(buildSlackMessage(n).text).toBe('Approval needed: &lt;!here&gt; wants to run a&amp;b');
    // The header is plain text, which Slack shows literally.
    expect(buildSlackMessage(n).blocks[0]).toMatchObject({
      text: { text: 'Approval needed: <!here> wants to run a&b' },
    });
    expect(escapeSlack('a & b <c> d')).toBe('a &amp; b &lt;c&gt; d');
  });

  it('send every mrkdwn text verbatim, so Slack links no bare URL, #channel or @mention in agent text', () => {
    const hostile: ApprovalSummary = {
      ...approval,
      triggeredBy: 'https://evil.example #general @channel',
      reasons: ['see https://evil.example'],
    };
    for (const kind of ['approval.requested', 'approval.decided'] as const) {
      const texts: Record<string, unknown>[] = [];
      JSON.stringify(buildSlackMessage({ kind, approval: { ...hostile, outcomeReason: 'x' } }), (_k, v) => {
        if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'mrkdwn') texts.push(v);
        return v;
      });
      expect(texts.length).toBeGreaterThan(5);
      for (const t of texts) expect(t).toMatchObject({ verbatim: true });
    }
  });

  it('cut long arguments to the limit without breaking an entity, and keep the code block closed', () => {
    const big = { ...approval, args: { blob: '<'.repeat(10_000), ticks: '```' } };
    const section = blocks({ kind: 'approval.requested', approval: big }).find((b) =>
      b.text?.text.startsWith('*Arguments*'),
    )?.text?.text as string;
    const inner = section.slice('*Arguments*\n```'.length, -3);
    expect(section.endsWith('```')).toBe(true);
    expect(inner.length).toBeLessThanOrEqual(SLACK_ARGS_LIMIT);
    expect(inner).toMatch(/(&lt;)+\n… \(truncated from \d+ characters\)$/);
    expect(section.length).toBeLessThan(3000);
    const small = blocks({ kind: 'approval.requested', approval: { ...approval, args: { ticks: 'a```b' } } });
    expect(JSON.stringify(small)).not.toContain('a```b');
    expect(escapeSlack('x'.repeat(100), 60)).toHaveLength(60);
    expect(escapeSlack('😀'.repeat(100), 61)).not.toMatch(/[\uD800-\uDBFF]\n/);
  });

  it('stay within Slack limits with huge text everywhere', () => {
    const long = 'x'.repeat(20_000);
    const n: ApprovalNotification = {
      kind: 'approval.requested',
      approval: { ...approval, agent: long, tool: long, reasons: [long], triggeredBy: long },
      links,
    };
    const msg = buildSlackMessage(n);
    for (const b of msg.blocks as Block[]) {
      if (b.type === 'header') expect(b.text?.text.length).toBeLessThanOrEqual(150);
      if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(3000);
      for (const f of b.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(2000);
      expect((b.fields ?? []).length).toBeLessThanOrEqual(10);
    }
    expect(msg.text.length).toBeLessThanOrEqual(4000);
  });
});
