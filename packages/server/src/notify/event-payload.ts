import type { Actor, AuditEvent } from '@warden/core';
import {
  clip,
  escapeSlack,
  mrkdwnSection,
  type NotificationMeta,
  SLACK_ARGS_LIMIT,
  SLACK_FIELD_LIMIT,
  SLACK_HEADER_LIMIT,
  type SlackMessage,
  type WebhookFormat,
} from './webhook-payload.js';

/** The events about budgets and sessions a webhook can subscribe to (they have no approval request). */
export const EVENT_NOTIFICATION_KINDS = [
  'budget.alert',
  'budget.exceeded',
  'session.paused',
  'breaker.tripped',
] as const;
export type EventNotificationKind = (typeof EVENT_NOTIFICATION_KINDS)[number];

/** True for the event types {@link buildEventWebhookBody} can describe. */
export function isEventNotificationKind(type: string): type is EventNotificationKind {
  return (EVENT_NOTIFICATION_KINDS as readonly string[]).includes(type);
}

/** The part of the audit event a notification shows; the event is already redacted as stored. */
export interface EventSummary {
  readonly id: string;
  readonly ts: string;
  readonly actor: Actor;
  readonly agent?: string;
  readonly session?: string;
  readonly tool?: string;
  readonly callId?: string;
  /** The event's details: budget id, scope, metric, used, limit…; the pause reason; the breaker. */
  readonly data: Record<string, unknown>;
}

/** Links to look at what happened; each is set only when the server knows its public URL. */
export interface EventLinks {
  readonly session?: string;
}

/** One budget or session event to notify about. */
export interface EventNotification {
  readonly kind: EventNotificationKind;
  readonly event: AuditEvent;
  /** The session's agent, when the event does not name it (a pause by a person names only the session). */
  readonly agent?: string;
  readonly links?: EventLinks;
}

/** The body of a `json` webhook for a budget or session event. */
export interface EventWebhookBody {
  readonly type: EventNotificationKind;
  readonly id: string;
  readonly ts: string;
  readonly event: EventSummary;
  readonly links: EventLinks;
}

/** Builds the body for `format`. Pure. */
export function buildEventWebhookBody(
  format: WebhookFormat,
  n: EventNotification,
  meta: NotificationMeta,
): EventWebhookBody | SlackMessage {
  return format === 'slack' ? buildEventSlackMessage(n) : buildEventJsonBody(n, meta);
}

/** Warden's own JSON body: the event type and the notification id, when, the event and its links. */
export function buildEventJsonBody(n: EventNotification, meta: NotificationMeta): EventWebhookBody {
  const ts = typeof meta.ts === 'string' ? meta.ts : meta.ts.toISOString();
  const e = n.event;
  const agent = e.agent ?? n.agent;
  const event: EventSummary = {
    id: e.id,
    ts: e.ts,
    actor: { ...e.actor },
    ...(agent ? { agent } : {}),
    ...(e.session ? { session: e.session } : {}),
    ...(e.tool ? { tool: e.tool } : {}),
    ...(e.callId ? { callId: e.callId } : {}),
    data: { ...e.data },
  };
  return {
    type: n.kind,
    id: meta.id,
    ts,
    event,
    links: n.links?.session ? { session: n.links.session } : {},
  };
}

/**
 * A Slack message: a header saying what happened in one line, the facts as fields, the details, the
 * command that resumes a paused session and, when the server has a public URL, a button to the session.
 */
export function buildEventSlackMessage(n: EventNotification): SlackMessage {
  const title = eventTitle(n);
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(title, SLACK_HEADER_LIMIT), emoji: true } },
  ];
  const fields = eventFields(n);
  if (fields.length > 0) blocks.push({ type: 'section', fields });
  const detail = detailOf(n);
  if (detail) blocks.push(mrkdwnSection(`*Details*\n${escapeSlack(detail, SLACK_ARGS_LIMIT)}`));
  // The ids and the command to act on them, for people who work from the CLI or the audit trail.
  const notes = [`Event \`${escapeSlack(n.event.id, 200)}\``];
  const session = n.event.session ? escapeSlack(n.event.session, 200) : undefined;
  if (session && (n.kind === 'session.paused' || n.kind === 'breaker.tripped')) {
    notes.push(`Resume with \`warden sessions resume ${session} --reason …\``);
  } else if (session) {
    notes.push(`\`warden budgets show --session ${session}\``);
  }
  blocks.push({ type: 'context', elements: notes.map((text) => ({ type: 'mrkdwn', text })) });
  if (n.links?.session) {
    blocks.push({
      type: 'actions',
      elements: [
        {
          type: 'button',
          text: { type: 'plain_text', text: 'View session', emoji: true },
          url: n.links.session,
          action_id: 'warden_view_session',
        },
      ],
    });
  }
  return { text: escapeSlack(title, SLACK_FIELD_LIMIT), blocks };
}

/** The one line that says what happened, e.g. "daily-spend at 80% (8.00/10.00 usd)". */
export function eventTitle(n: EventNotification): string {
  const d = n.event.data ?? {};
  const session = n.event.session ?? '?';
  const agent = n.event.agent ?? n.agent ?? '?';
  switch (n.kind) {
    case 'session.paused':
      return `Session ${session} of agent ${agent} paused: ${text(d.reason) ?? 'no reason given'}`;
    case 'budget.alert':
      return `${text(d.budgetId) ?? 'A budget'} at ${num(d.threshold) ?? '?'}% (${usage(d)})`;
    case 'budget.exceeded':
      return `${text(d.budgetId) ?? 'A budget'} exceeded (${usage(d)}): a call of agent ${agent} was refused`;
    case 'breaker.tripped':
      return `Breaker ${text(d.breaker) ?? '?'} tripped: session ${session} of agent ${agent} paused`;
  }
}

/** "8.00/10.00 usd", "12,000/15,000 tokens". */
function usage(d: Record<string, unknown>): string {
  const metric = text(d.metric) ?? '';
  return `${amount(num(d.used), metric)}/${amount(num(d.limit), metric)}${metric ? ` ${metric}` : ''}`;
}

/** An amount in its metric's unit: cents for USD, whole numbers with separators otherwise. */
export function amount(n: number | undefined, metric: string): string {
  if (n === undefined) return '?';
  if (metric === 'usd') return n.toFixed(2);
  return Math.round(n).toLocaleString('en-US');
}

function eventFields(n: EventNotification): Record<string, unknown>[] {
  const d = n.event.data ?? {};
  const facts: [string, string | undefined][] = [
    ['Agent', n.event.agent ?? n.agent],
    ['Session', n.event.session],
    ['Tool', n.event.tool],
    ['Budget', text(d.budgetId)],
    ['Scope', text(d.scopeKey)],
    ['Window', windowText(d)],
  ];
  if (n.kind === 'session.paused') facts.push(['Paused by', `${n.event.actor.id} (${n.event.actor.kind})`]);
  return facts
    .filter((f): f is [string, string] => f[1] !== undefined)
    .map(([k, v]) => ({ type: 'mrkdwn', text: `*${k}*\n${escapeSlack(v, SLACK_FIELD_LIMIT)}` }));
}

function windowText(d: Record<string, unknown>): string | undefined {
  const start = text(d.windowStart);
  if (!start) return undefined;
  return start === 'session' ? "the session's lifetime" : `from ${start}`;
}

/** What the header cannot hold: the pause reason in full, the breaker's detail, a refusal's figures. */
function detailOf(n: EventNotification): string | undefined {
  const d = n.event.data ?? {};
  switch (n.kind) {
    case 'session.paused':
      return text(d.reason);
    case 'breaker.tripped':
      return text(d.detail) ?? (d.detail !== undefined ? JSON.stringify(d.detail) : undefined);
    case 'budget.exceeded': {
      const metric = text(d.metric) ?? '';
      const parts = [
        ['used', num(d.used)],
        ['reserved', num(d.reserved)],
        ['requested', num(d.requested)],
        ['limit', num(d.limit)],
      ] as const;
      const shown = parts.filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${amount(v, metric)}`);
      return shown.length > 0 ? shown.join(' · ') : undefined;
    }
    case 'budget.alert':
      return undefined;
  }
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
