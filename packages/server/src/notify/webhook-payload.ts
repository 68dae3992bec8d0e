import type { ApprovalStatus } from '@warden/core';

/** The approval events a webhook can subscribe to. */
export const APPROVAL_NOTIFICATION_KINDS = [
  'approval.requested',
  'approval.escalated',
  'approval.decided',
] as const;
export type ApprovalNotificationKind = (typeof APPROVAL_NOTIFICATION_KINDS)[number];

/** How a webhook target wants its body: Warden's JSON, or a Slack incoming-webhook message. */
export type WebhookFormat = 'json' | 'slack';

/** The part of an approval a notification shows (a subset of ApprovalView; args already redacted). */
export interface ApprovalSummary {
  readonly id: string;
  readonly callId: string;
  readonly status: ApprovalStatus;
  readonly agent: string;
  readonly session: string;
  readonly tool: string;
  readonly args: unknown;
  /** Set when the stored arguments were capped or cut: the approver does not see all of them. */
  readonly argsFlags?: readonly string[];
  readonly ruleId: string | null;
  readonly reasons: readonly string[];
  readonly triggeredBy?: string | null;
  readonly delegationChain: readonly string[];
  readonly expiresAt: string;
  readonly requireReason: boolean;
  readonly progress?: readonly {
    readonly approvals: number;
    readonly quorum: number;
    readonly missingGroups: readonly string[];
    readonly denials: number;
    readonly denyThreshold: number;
  }[];
  readonly decidedBy?: string | null;
  readonly outcomeReason?: string | null;
}

/** Signed action links for the notification; each is optional. */
export interface ApprovalLinks {
  readonly approve?: string;
  readonly deny?: string;
  readonly view?: string;
}

/** One approval event to notify about. */
export interface ApprovalNotification {
  readonly kind: ApprovalNotificationKind;
  readonly approval: ApprovalSummary;
  readonly links?: ApprovalLinks;
}

/** The identity of the event: the same for every delivery and retry, so receivers can drop duplicates. */
export interface NotificationMeta {
  readonly id: string;
  readonly ts: Date | string;
}

/** The body of a `json` webhook. */
export interface JsonWebhookBody {
  readonly type: ApprovalNotificationKind;
  readonly id: string;
  readonly ts: string;
  readonly approval: ApprovalSummary;
  readonly links: ApprovalLinks;
}

/** A Slack incoming-webhook message: `text` is the fallback for notifications, `blocks` the layout. */
export interface SlackMessage {
  readonly text: string;
  readonly blocks: readonly Record<string, unknown>[];
}

/** Builds the body for `format`. Pure. */
export function buildWebhookBody(
  format: WebhookFormat,
  n: ApprovalNotification,
  meta: NotificationMeta,
): JsonWebhookBody | SlackMessage {
  return format === 'slack' ? buildSlackMessage(n) : buildJsonBody(n, meta);
}

/** Warden's own JSON body: the event type and id, when it happened, the approval and its links. */
export function buildJsonBody(n: ApprovalNotification, meta: NotificationMeta): JsonWebhookBody {
  const ts = typeof meta.ts === 'string' ? meta.ts : meta.ts.toISOString();
  return { type: n.kind, id: meta.id, ts, approval: pickSummary(n.approval), links: pickLinks(n.links) };
}

/** Copies only the summary's fields, so a caller passing a whole ApprovalView leaks nothing more. */
function pickSummary(a: ApprovalSummary): ApprovalSummary {
  return {
    id: a.id,
    callId: a.callId,
    status: a.status,
    agent: a.agent,
    session: a.session,
    tool: a.tool,
    args: a.args,
    ...(a.argsFlags?.length ? { argsFlags: [...a.argsFlags] } : {}),
    ruleId: a.ruleId,
    reasons: [...a.reasons],
    ...(a.triggeredBy != null ? { triggeredBy: a.triggeredBy } : {}),
    delegationChain: [...a.delegationChain],
    expiresAt: a.expiresAt,
    requireReason: a.requireReason,
    ...(a.progress
      ? { progress: a.progress.map((p) => ({ ...p, missingGroups: [...p.missingGroups] })) }
      : {}),
    ...(a.decidedBy != null ? { decidedBy: a.decidedBy } : {}),
    ...(a.outcomeReason != null ? { outcomeReason: a.outcomeReason } : {}),
  };
}

function pickLinks(links: ApprovalLinks | undefined): ApprovalLinks {
  const out: { approve?: string; deny?: string; view?: string } = {};
  if (links?.approve) out.approve = links.approve;
  if (links?.deny) out.deny = links.deny;
  if (links?.view) out.view = links.view;
  return out;
}

/** The most argument text a Slack message shows; Slack refuses a section over 3,000 characters. */
export const SLACK_ARGS_LIMIT = 2_500;
/** The most text one Slack field or fallback `text` shows here (Slack allows 2,000 in a field). */
export const SLACK_FIELD_LIMIT = 1_900;
/** Slack cuts a header's plain text at 150 characters. */
export const SLACK_HEADER_LIMIT = 150;

/**
 * A Slack message for the event: a header, the facts as fields, the reasons, the arguments as a code block
 * and, while the request is open and links exist, Approve / Deny (and View) buttons that open the links.
 */
export function buildSlackMessage(n: ApprovalNotification): SlackMessage {
  const a = n.approval;
  const title = slackTitle(n);
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(title, SLACK_HEADER_LIMIT), emoji: true } },
    { type: 'section', fields: slackFields(a) },
  ];
  if (a.reasons.length > 0) {
    blocks.push(mrkdwnSection(`*Reason*\n${escapeSlack(a.reasons.join('\n'), SLACK_ARGS_LIMIT)}`));
  }
  if (n.kind === 'approval.decided' && a.outcomeReason) {
    blocks.push(mrkdwnSection(`*Decision note*\n${escapeSlack(a.outcomeReason, SLACK_ARGS_LIMIT)}`));
  }
  const partial = a.argsFlags?.length ? ' (not all shown: too large to store whole)' : '';
  blocks.push(mrkdwnSection(`*Arguments*${partial}\n\`\`\`${formatArgs(a.args)}\`\`\``));
  // The ids let people find the request in the CLI or the audit trail (`warden approvals show ID`).
  const notes = [`Approval \`${escapeSlack(a.id, 200)}\` · call \`${escapeSlack(a.callId, 200)}\``];
  if (a.requireReason && n.kind !== 'approval.decided') notes.push('A reason is required with the decision.');
  blocks.push({
    type: 'context',
    elements: notes.map((text) => ({ type: 'mrkdwn', text, verbatim: true })),
  });
  const actions = slackButtons(n);
  if (actions.length > 0) blocks.push({ type: 'actions', elements: actions });
  return { text: escapeSlack(title, SLACK_FIELD_LIMIT), blocks };
}

function slackTitle(n: ApprovalNotification): string {
  const { agent, tool, status } = n.approval;
  switch (n.kind) {
    case 'approval.requested':
      return `Approval needed: ${agent} wants to run ${tool}`;
    case 'approval.escalated':
      return `Escalated, still waiting: ${agent} wants to run ${tool}`;
    case 'approval.decided':
      return `Approval ${status}: ${agent} → ${tool}`;
  }
}

function slackFields(a: ApprovalSummary): Record<string, unknown>[] {
  const fields: [string, string][] = [
    ['Agent', a.agent],
    ['Tool', a.tool],
    ['Rule', a.ruleId ?? '(none)'],
    ['Session', a.session],
  ];
  if (a.triggeredBy) fields.push(['Triggered by', a.triggeredBy]);
  if (a.delegationChain.length > 0) fields.push(['Delegated by', a.delegationChain.join(' → ')]);
  fields.push(['Status', a.status]);
  if (a.decidedBy) fields.push(['Decided by', a.decidedBy]);
  const facts = fields.map(([label, value]) => ({
    type: 'mrkdwn',
    text: `*${label}*\n${escapeSlack(value, SLACK_FIELD_LIMIT)}`,
    verbatim: true,
  }));
  // Slack renders `<!date^…|fallback>` in each reader's own time zone; the fallback is the ISO time.
  const sec = Math.floor(Date.parse(a.expiresAt) / 1000);
  const expires = Number.isFinite(sec)
    ? `<!date^${sec}^{date_short_pretty} {time}|${escapeSlack(a.expiresAt, 100)}>`
    : escapeSlack(a.expiresAt, 100);
  facts.push({ type: 'mrkdwn', text: `*Expires*\n${expires}`, verbatim: true });
  return facts.slice(0, 10);
}

function slackButtons(n: ApprovalNotification): Record<string, unknown>[] {
  const links = n.links ?? {};
  const buttons: Record<string, unknown>[] = [];
  const button = (text: string, url: string, id: string, style?: 'primary' | 'danger') => ({
    type: 'button',
    text: { type: 'plain_text', text },
    url,
    action_id: id,
    ...(style ? { style } : {}),
  });
  // Voting buttons only while the request is open; a decided one can still be viewed.
  if (n.kind !== 'approval.decided') {
    if (links.approve) buttons.push(button('Approve', links.approve, 'warden_approve', 'primary'));
    if (links.deny) buttons.push(button('Deny', links.deny, 'warden_deny', 'danger'));
  }
  if (links.view) buttons.push(button('View', links.view, 'warden_view'));
  return buttons;
}

/**
 * A section block of Slack mrkdwn text (escape user text first). Verbatim: Slack does not turn bare URLs,
 * channel names or @mentions in agent-written text into links (escaping stops only `<…>` forms).
 */
export function mrkdwnSection(text: string): Record<string, unknown> {
  return { type: 'section', text: { type: 'mrkdwn', text, verbatim: true } };
}

/** The arguments as indented JSON, escaped and cut to SLACK_ARGS_LIMIT characters. */
function formatArgs(args: unknown): string {
  let json: string;
  try {
    json = JSON.stringify(args ?? null, null, 2) ?? 'null';
  } catch {
    json = '(arguments not serialisable)';
  }
  // Three backticks inside would close the code block early; a zero-width space keeps them apart.
  return escapeSlack(json.replaceAll('```', '`\u200b`\u200b`'), SLACK_ARGS_LIMIT);
}

/**
 * Escapes Slack's mrkdwn control characters (&, <, >) so user text cannot form links or mentions, then cuts
 * the result to `max` characters without splitting an entity or a surrogate pair, saying how much was cut.
 */
export function escapeSlack(text: string, max = Number.POSITIVE_INFINITY): string {
  const escaped = text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
  if (escaped.length <= max) return escaped;
  const note = `\n… (truncated from ${text.length} characters)`;
  let cut = escaped.slice(0, Math.max(0, max - note.length));
  cut = cut.replace(/&[a-z]{0,3}$/, '');
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}${note}`;
}

/** Cuts plain text to `max` characters with an ellipsis, never splitting a surrogate pair. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max - 1);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}
