import { type ApprovalRecord, tally } from '@warden/core';
import {
  clip,
  escapeSlack,
  mrkdwnSection,
  SLACK_FIELD_LIMIT,
  SLACK_HEADER_LIMIT,
} from './webhook-payload.js';

/** The `action_id`s of the buttons; each button's `value` is the approval request's id. */
export const SLACK_APPROVE_ACTION = 'warden_approve';
export const SLACK_DENY_ACTION = 'warden_deny';
/** The link button to the dashboard: Slack reports its clicks too, and they are acknowledged and ignored. */
export const SLACK_OPEN_ACTION = 'warden_open';
/** The `block_id` of the actions block. */
export const SLACK_ACTIONS_BLOCK = 'warden_approval_actions';

/** How much of the (already redacted) arguments a message shows. */
export const SLACK_ARGS_EXCERPT = 1_200;

/** A Web API message: `text` is the notification fallback, `blocks` the layout (Block Kit). */
export interface SlackBlocksMessage {
  readonly text: string;
  readonly blocks: Record<string, unknown>[];
}

/** What a message says beyond the request itself. */
export interface SlackMessageContext {
  /** The dashboard's page of the request (publicUrl set): a link button. */
  readonly dashboardUrl?: string;
  /** How the human who triggered the call was verified ("claimed, unverified", "SSO: issuer"…). */
  readonly initiatorProof?: string;
}

/** The message posted when a request opens or escalates: the facts, then Approve and Deny buttons. */
export function slackRequestMessage(
  a: ApprovalRecord,
  kind: 'approval.requested' | 'approval.escalated',
  ctx: SlackMessageContext = {},
): SlackBlocksMessage {
  const title =
    kind === 'approval.escalated'
      ? `Escalated, still waiting: ${a.agent} wants to run ${a.tool}`
      : `Approval needed: ${a.agent} wants to run ${a.tool}`;
  return {
    text: escapeSlack(title, SLACK_FIELD_LIMIT),
    blocks: [...facts(a, title, ctx), actions(a, ctx, true)],
  };
}

/** The vote from Slack that led to this update, when one did. */
export interface SlackVoteOutcome {
  readonly by: string;
  readonly vote: 'approve' | 'deny';
}

/**
 * The message as the request stands now (chat.update), after a vote from Slack or a decision anywhere
 * else: a decided request says how and by whom and loses its buttons; one still pending says who voted and
 * how far it is, and keeps them for the next approver. Derived from the record, so every path that updates
 * the message writes the same thing.
 */
export function slackOutcomeMessage(
  a: ApprovalRecord,
  ctx: SlackMessageContext = {},
  last?: SlackVoteOutcome,
): SlackBlocksMessage {
  const { title, line } = outcomeText(a, last);
  return {
    // The notification fallback: the same words without emoji codes or bold marks (already escaped).
    text: clip(
      `${escapeSlack(title)}. ${line.replace(/:[a-z_]+:\s*/g, '').replaceAll('*', '')}`,
      SLACK_FIELD_LIMIT,
    ),
    blocks: [...facts(a, title, ctx), mrkdwnSection(line), actions(a, ctx, a.status === 'pending')],
  };
}

function outcomeText(a: ApprovalRecord, last: SlackVoteOutcome | undefined): { title: string; line: string } {
  const by = (vote: 'approve' | 'deny') => {
    const who = a.votes
      .filter((v) => v.vote === vote)
      .map((v) => `${v.principal}${v.via ? ` (${v.via})` : ''}`);
    return escapeSlack(who.join(', ') || 'nobody', 800);
  };
  const because = a.outcomeReason ? `: ${escapeSlack(a.outcomeReason, 800)}` : '';
  const decider = escapeSlack(a.decidedBy ?? 'someone', 200);
  switch (a.status) {
    case 'approved':
    case 'used':
      return {
        title: `Approved: ${a.agent} may run ${a.tool}`,
        line: a.override
          ? `:white_check_mark: *Approved* by an admin override of ${decider}${because}`
          : `:white_check_mark: *Approved* by ${by('approve')}${because}`,
      };
    case 'denied':
      return {
        title: `Denied: ${a.agent} may not run ${a.tool}`,
        line: a.override
          ? `:no_entry: *Denied* by an admin override of ${decider}${because}`
          : `:no_entry: *Denied* by ${by('deny')}${because}`,
      };
    case 'expired':
      return {
        title: `Expired: ${a.agent} → ${a.tool}`,
        line: `:hourglass: *Expired*: nobody decided in time, so the call ${a.onTimeout === 'allow' ? 'may run (onTimeout: allow)' : 'is blocked'}.`,
      };
    case 'cancelled':
      return { title: `Withdrawn: ${a.agent} → ${a.tool}`, line: `*Withdrawn* by ${decider}${because}` };
    case 'pending': {
      const need = tally(a)
        .progress.map(
          (r) =>
            `${r.approvals} of ${r.quorum} approvals${r.missingGroups.length ? ` (still needed: ${r.missingGroups.join(', ')})` : ''}`,
        )
        .join('; ');
      const voted = last
        ? `${escapeSlack(last.by, 200)} ${last.vote === 'approve' ? 'approved' : 'denied'} from Slack. `
        : '';
      return {
        title: `Approval needed: ${a.agent} wants to run ${a.tool}`,
        line: `${voted}Still pending: ${escapeSlack(need, 500)}.`,
      };
    }
    default:
      return { title: `Approval ${a.status}: ${a.agent} → ${a.tool}`, line: `The request is *${a.status}*.` };
  }
}

/** The header, the facts as fields, the reasons, an arguments excerpt and the ids. */
function facts(a: ApprovalRecord, title: string, ctx: SlackMessageContext): Record<string, unknown>[] {
  const fields: [string, string][] = [
    ['Agent', a.agent],
    ['Tool', a.tool],
    ['Rule', a.ruleId ?? '(default)'],
    ['Triggered by', a.triggeredBy ?? '(nobody named)'],
    // A field of its own, always there: appended to the agent-written name, a name ending in
    // "(SSO: https://idp…)" would pass for a verified one.
    ['Initiator proof', ctx.initiatorProof ?? 'not recorded'],
  ];
  if (a.delegationChain.length > 0) fields.push(['Delegated by', a.delegationChain.join(' → ')]);
  fields.push(['Session', a.session]);
  const sec = Math.floor(Date.parse(a.expiresAt) / 1000);
  const expires = Number.isFinite(sec)
    ? `<!date^${sec}^{date_short_pretty} {time}|${escapeSlack(a.expiresAt, 100)}>`
    : escapeSlack(a.expiresAt, 100);
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(title, SLACK_HEADER_LIMIT), emoji: true } },
    {
      type: 'section',
      fields: [
        ...fields.map(([label, value]) => ({
          type: 'mrkdwn',
          text: `*${label}*\n${escapeSlack(value, 500)}`,
          verbatim: true,
        })),
        { type: 'mrkdwn', text: `*Expires*\n${expires}`, verbatim: true },
      ].slice(0, 10),
    },
  ];
  if (a.reasons.length > 0) {
    blocks.push(mrkdwnSection(`*Reasons*\n${escapeSlack(a.reasons.join('\n'), 1_500)}`));
  }
  const partial = a.argsFlags?.length ? ' (not all shown: too large to store whole)' : '';
  blocks.push(mrkdwnSection(`*Arguments* (redacted)${partial}\n\`\`\`${argsExcerpt(a.args)}\`\`\``));
  blocks.push({
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text: `Approval \`${escapeSlack(a.id, 200)}\` · call \`${escapeSlack(a.callId, 200)}\``,
        verbatim: true,
      },
    ],
  });
  return blocks;
}

/** Approve and Deny (while open), and the dashboard link when there is one. */
function actions(a: ApprovalRecord, ctx: SlackMessageContext, open: boolean): Record<string, unknown> {
  const elements: Record<string, unknown>[] = [];
  if (open) {
    elements.push(
      {
        type: 'button',
        action_id: SLACK_APPROVE_ACTION,
        text: { type: 'plain_text', text: 'Approve', emoji: true },
        style: 'primary',
        value: a.id,
      },
      {
        type: 'button',
        action_id: SLACK_DENY_ACTION,
        text: { type: 'plain_text', text: 'Deny', emoji: true },
        style: 'danger',
        value: a.id,
        confirm: {
          title: { type: 'plain_text', text: 'Deny this request?' },
          text: { type: 'plain_text', text: `${clip(a.agent, 80)} will not run ${clip(a.tool, 80)}.` },
          confirm: { type: 'plain_text', text: 'Deny' },
          deny: { type: 'plain_text', text: 'Cancel' },
          style: 'danger',
        },
      },
    );
  }
  if (ctx.dashboardUrl) {
    elements.push({
      type: 'button',
      action_id: SLACK_OPEN_ACTION,
      text: { type: 'plain_text', text: 'Open in Warden', emoji: true },
      url: ctx.dashboardUrl,
      value: a.id,
    });
  }
  // An actions block needs at least one element; a decided request without a link gets a context line.
  if (elements.length === 0) {
    return { type: 'context', elements: [{ type: 'mrkdwn', text: `Status: *${a.status}*`, verbatim: true }] };
  }
  return { type: 'actions', block_id: SLACK_ACTIONS_BLOCK, elements };
}

/** The arguments as indented JSON, escaped, cut to SLACK_ARGS_EXCERPT, with no early end of the code block. */
function argsExcerpt(args: unknown): string {
  let json: string;
  try {
    json = JSON.stringify(args ?? null, null, 2) ?? 'null';
  } catch {
    json = '(arguments not serialisable)';
  }
  return escapeSlack(json.replaceAll('```', '`\u200b`\u200b`'), SLACK_ARGS_EXCERPT);
}
