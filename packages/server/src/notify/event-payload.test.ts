import type { AuditEvent } from '@warden/core';
import { NOTIFIED_EVENTS } from '@warden/engine';
import { describe, expect, it } from 'vitest';
import {
  amount,
  buildEventJsonBody,
  buildEventSlackMessage,
  buildEventWebhookBody,
  EVENT_NOTIFICATION_KINDS,
  type EventNotification,
  eventTitle,
} from './event-payload.js';
import { APPROVAL_NOTIFICATION_KINDS } from './webhook-payload.js';

const event = (type: AuditEvent['type'], fields: Partial<AuditEvent>): AuditEvent => ({
  id: 'evt_1',
  ts: '2026-03-01T12:00:00.000Z',
  type,
  actor: { kind: 'system', id: 'warden' },
  ...fields,
});

const alert: EventNotification = {
  kind: 'budget.alert',
  event: event('budget.alert', {
    agent: 'spend-bot',
    session: 'ses_1',
    data: {
      budgetId: 'daily-spend',
      scopeKey: 'agent:spend-bot',
      metric: 'usd',
      threshold: 80,
      used: 8,
      limit: 10,
      windowStart: '2026-03-01T00:00:00.000Z',
    },
  }),
};

const paused: EventNotification = {
  kind: 'session.paused',
  event: event('session.paused', {
    actor: { kind: 'human', id: 'lina@acme.example' },
    session: 'ses_<2>',
    data: { reason: 'looping on <!channel> & co' },
  }),
  agent: 'spend-bot',
  links: { session: 'https://warden.example/sessions/ses_%3C2%3E' },
};

type Block = {
  type: string;
  text?: { text: string };
  fields?: { text: string }[];
  elements?: { url?: string }[];
};
const blocks = (n: EventNotification) => buildEventSlackMessage(n).blocks as Block[];

describe('budget and session notification bodies', () => {
  it('every event a webhook may subscribe to has a body', () => {
    expect([...NOTIFIED_EVENTS].sort()).toEqual(
      [...APPROVAL_NOTIFICATION_KINDS, ...EVENT_NOTIFICATION_KINDS].sort(),
    );
  });

  it('JSON: the type, notification id and time, the event with its data, and the session link', () => {
    const body = buildEventJsonBody(paused, { id: 'ntf_1', ts: new Date('2026-03-01T12:00:01Z') });
    expect(body).toEqual({
      type: 'session.paused',
      id: 'ntf_1',
      ts: '2026-03-01T12:00:01.000Z',
      event: {
        id: 'evt_1',
        ts: '2026-03-01T12:00:00.000Z',
        actor: { kind: 'human', id: 'lina@acme.example' },
        agent: 'spend-bot',
        session: 'ses_<2>',
        data: { reason: 'looping on <!channel> & co' },
      },
      links: { session: 'https://warden.example/sessions/ses_%3C2%3E' },
    });
    expect(buildEventWebhookBody('json', alert, { id: 'n', ts: 'x' })).toMatchObject({
      type: 'budget.alert',
      event: { agent: 'spend-bot', data: { threshold: 80 } },
      links: {},
    });
  });

  it('titles say what happened in one line', () => {
    expect(eventTitle(alert)).toBe('daily-spend at 80% (8.00/10.00 usd)');
    expect(eventTitle(paused)).toBe('Session ses_<2> of agent spend-bot paused: looping on <!channel> & co');
    const tokens = event('budget.exceeded', {
      agent: 'spend-bot',
      data: { budgetId: 'tokens', metric: 'tokens', used: 14_500, limit: 15_000, requested: 900 },
    });
    expect(eventTitle({ kind: 'budget.exceeded', event: tokens })).toBe(
      'tokens exceeded (14,500/15,000 tokens): a call of agent spend-bot was refused',
    );
    const tripped = event('breaker.tripped', {
      agent: 'loop-bot',
      session: 's9',
      data: { breaker: 'repeat', detail: 'search called 11 times with the same arguments in 10m' },
    });
    expect(eventTitle({ kind: 'breaker.tripped', event: tripped })).toBe(
      'Breaker repeat tripped: session s9 of agent loop-bot paused',
    );
    expect(eventTitle({ kind: 'budget.alert', event: event('budget.alert', {}) })).toBe(
      'A budget at ?% (?/?)',
    );
  });

  it('Slack: escaped text, the facts as fields, the resume command and a button to the session', () => {
    const msg = buildEventSlackMessage(paused);
    expect(msg.text).toBe(
      'Session ses_&lt;2&gt; of agent spend-bot paused: looping on &lt;!channel&gt; &amp; co',
    );
    // Only the header is plain text (Slack shows it literally); everything in mrkdwn is escaped.
    expect(blocks(paused)[0]?.text?.text).toContain('<!channel>');
    const all = JSON.stringify({ ...msg, blocks: msg.blocks.slice(1) });
    expect(all).not.toContain('<!channel>');
    const fields = blocks(paused)
      .find((b) => b.type === 'section' && b.fields)
      ?.fields?.map((f) => f.text);
    expect(fields).toEqual([
      '*Agent*\nspend-bot',
      '*Session*\nses_&lt;2&gt;',
      '*Paused by*\nlina@acme.example (human)',
    ]);
    expect(all).toContain('warden sessions resume ses_&lt;2&gt; --reason …');
    const button = blocks(paused).find((b) => b.type === 'actions')?.elements?.[0];
    expect(button?.url).toBe('https://warden.example/sessions/ses_%3C2%3E');
    // No public URL, no button.
    expect(blocks(alert).some((b) => b.type === 'actions')).toBe(false);
    expect(JSON.stringify(buildEventSlackMessage(alert))).toContain('warden budgets show --session ses_1');
  });

  it('amounts: cents for USD, whole numbers with separators otherwise', () => {
    expect(amount(8, 'usd')).toBe('8.00');
    expect(amount(1234.5678, 'usd')).toBe('1234.57');
    expect(amount(1234567.4, 'tokens')).toBe('1,234,567');
    expect(amount(undefined, 'calls')).toBe('?');
  });
});
