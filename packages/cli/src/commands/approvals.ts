import type { ApprovalList, ApprovalView } from '@warden/api';
import {
  type ApprovalRequirement,
  approvalLetsRun,
  formatDuration,
  parseDuration,
  type RequirementProgress,
  WardenError,
} from '@warden/core';
import { type CliIo, EXIT } from '../cli-io.js';
import { renderTable } from '../table.js';
import { type ApiFlags, apiClient, withQuery } from './api-client.js';
import { parseCount, shellArg } from './audit-store.js';

/** An approval request as GET /v1/approvals/:id answers it (the stored request plus its progress). */
export type { ApprovalView };

/**
 * Exit codes of `warden approvals wait`: 0 the call may run (approved), 1 it may not (denied, expired,
 * cancelled or voided), 3 still pending at --timeout. Errors exit 2 as everywhere else.
 */
export const WAIT_EXIT = { approved: 0, notApproved: 1, pending: 3 } as const;

export interface ListOptions extends ApiFlags {
  readonly status: string;
  readonly agent?: string;
  readonly session?: string;
  readonly limit?: string;
  readonly cursor?: string;
  readonly json?: boolean;
}

/** `warden approvals list`: a table of requests, pending ones unless --status says otherwise. */
export async function approvalsList(o: ListOptions, io: CliIo): Promise<number> {
  const path = withQuery('/v1/approvals', {
    status: o.status === 'all' ? undefined : o.status,
    agent: o.agent,
    session: o.session,
    limit: parseCount('--limit', o.limit, '50'),
    cursor: o.cursor,
  });
  const page = await apiClient(o).get<ApprovalList>(path);
  if (o.json) {
    io.out(`${JSON.stringify(page)}\n`);
    return EXIT.ok;
  }
  if (page.approvals.length === 0) {
    io.err(`no ${o.status === 'all' ? '' : `${o.status} `}approval requests\n`);
  } else {
    const now = Date.now();
    io.out(
      `${renderTable(
        ['id', 'status', 'agent', 'tool', 'rule', 'triggered by', 'progress', 'expires / decided'],
        page.approvals.map((a) => [
          a.id,
          a.status,
          a.agent,
          a.tool,
          a.ruleId ?? '(default)',
          a.triggeredBy ?? '—',
          progressText(a.progress),
          a.status === 'pending' ? `in ${timeLeft(a.expiresAt, now)}` : decidedText(a),
        ]),
        [48, 10, 24, 32, 32, 24, 48, 40],
      )}\n`,
    );
  }
  if (page.nextCursor) io.err(`more: --cursor ${shellArg(page.nextCursor)}\n`);
  return EXIT.ok;
}

/** `warden approvals show ID`: one request in full, with its requirements in words and every vote. */
export async function approvalsShow(
  id: string,
  o: ApiFlags & { json?: boolean },
  io: CliIo,
): Promise<number> {
  const a = await apiClient(o).get<ApprovalView>(`/v1/approvals/${encodeURIComponent(id)}`);
  io.out(o.json ? `${JSON.stringify(a)}\n` : describeApproval(a, Date.now()));
  return EXIT.ok;
}

/** `warden approvals approve|deny ID`: a vote cast as the key's principal; prints where the request stands. */
export async function approvalsVote(
  id: string,
  vote: 'approve' | 'deny',
  o: ApiFlags & { reason?: string; json?: boolean },
  io: CliIo,
): Promise<number> {
  const a = await apiClient(o).post<ApprovalView>(`/v1/approvals/${encodeURIComponent(id)}/${vote}`, {
    ...(o.reason ? { reason: o.reason } : {}),
  });
  if (o.json) io.out(`${JSON.stringify(a)}\n`);
  else io.out(`Voted ${vote} on ${a.id}; the request is ${standing(a)}.\n`);
  return EXIT.ok;
}

/** `warden approvals override ID --approve|--deny --reason TEXT` (admin keys): decides alone, audited. */
export async function approvalsOverride(
  id: string,
  o: ApiFlags & { approve?: boolean; deny?: boolean; reason?: string; json?: boolean },
  io: CliIo,
): Promise<number> {
  if (Boolean(o.approve) === Boolean(o.deny)) {
    throw new WardenError('USAGE', 'say --approve or --deny (exactly one)');
  }
  if (!o.reason?.trim()) throw new WardenError('USAGE', 'an override needs --reason TEXT');
  const a = await apiClient(o).post<ApprovalView>(`/v1/approvals/${encodeURIComponent(id)}/override`, {
    decision: o.approve ? 'approve' : 'deny',
    reason: o.reason,
  });
  if (o.json) io.out(`${JSON.stringify(a)}\n`);
  else io.out(`Overrode ${a.id}: ${decidedText(a)}.\n`);
  return EXIT.ok;
}

/** `warden approvals cancel ID` (the requesting agent's key or an admin's): withdraws a pending request. */
export async function approvalsCancel(
  id: string,
  o: ApiFlags & { reason?: string; json?: boolean },
  io: CliIo,
): Promise<number> {
  const a = await apiClient(o).post<ApprovalView>(`/v1/approvals/${encodeURIComponent(id)}/cancel`, {
    ...(o.reason ? { reason: o.reason } : {}),
  });
  if (o.json) io.out(`${JSON.stringify(a)}\n`);
  else io.out(`Cancelled ${a.id}; its call stays blocked.\n`);
  return EXIT.ok;
}

/** One long-poll stays well inside proxy and client idle timeouts; longer waits poll again. */
const WAIT_SLICE_MS = 55_000;

/** `warden approvals wait ID`: blocks until the request is decided or --timeout passes; see WAIT_EXIT. */
export async function approvalsWait(
  id: string,
  o: ApiFlags & { timeout: string; json?: boolean },
  io: CliIo,
): Promise<number> {
  const total = parseDuration(o.timeout.trim());
  if (total === undefined) {
    throw new WardenError('USAGE', `--timeout "${o.timeout}" is not a duration such as 30s or 10m`);
  }
  const client = apiClient(o);
  const deadline = Date.now() + total;
  let a: ApprovalView;
  do {
    const slice = Math.max(0, Math.min(WAIT_SLICE_MS, deadline - Date.now()));
    a = await client.get<ApprovalView>(
      withQuery(`/v1/approvals/${encodeURIComponent(id)}/wait`, { timeoutMs: slice }),
      { timeoutMs: slice },
    );
  } while (a.status === 'pending' && Date.now() < deadline);
  if (o.json) io.out(`${JSON.stringify(a)}\n`);
  if (a.status === 'pending') {
    if (!o.json) io.out(`${a.id} is still pending after ${o.timeout} (${progressText(a.progress)}).\n`);
    return WAIT_EXIT.pending;
  }
  if (!o.json) io.out(`${a.id}: ${decidedText(a)}.\n`);
  return approvalLetsRun(a) || a.status === 'used' ? WAIT_EXIT.approved : WAIT_EXIT.notApproved;
}

/** "1/2 approvals, needs security", one clause per requirement. */
export function progressText(progress: readonly RequirementProgress[]): string {
  if (progress.length === 0) return '—';
  return progress
    .map((p) => {
      const needs = p.missingGroups.length > 0 ? `, needs ${p.missingGroups.join(' and ')}` : '';
      const denials = p.denials > 0 ? `, ${p.denials}/${p.denyThreshold} denials` : '';
      return `${p.approvals}/${p.quorum} approvals${needs}${denials}`;
    })
    .join('; ');
}

function standing(a: ApprovalView): string {
  return a.status === 'pending'
    ? `still pending (${progressText(a.progress)})`
    : `now ${a.status} (${progressText(a.progress)})`;
}

function decidedText(a: ApprovalView): string {
  const by = a.decidedBy ? ` by ${a.decidedBy}${a.override ? ' (override)' : ''}` : '';
  const why = a.outcomeReason ? `: ${a.outcomeReason}` : '';
  return `${a.status}${by}${why}`;
}

/** Time until `iso` from `now`, in whole minutes (seconds under one): "12m", "1h30m", or "overdue". */
function timeLeft(iso: string, now: number): string {
  const ms = Date.parse(iso) - now;
  if (ms <= 0) return 'overdue';
  const unit = ms >= 60_000 ? 60_000 : 1000;
  return formatDuration(Math.max(unit, Math.floor(ms / unit) * unit));
}

/** Who may vote on a requirement, in words (with the members of named approver groups), then its terms. */
function requirementText(a: ApprovalView, r: ApprovalRequirement): string[] {
  const group = (g: string) => `group ${g} (${(a.groups[g] ?? []).join(', ') || 'no members'})`;
  const who = (s: ApprovalRequirement['approvers']) =>
    [
      ...s.roles.map((x) => `role ${x}`),
      ...s.principals,
      ...s.groups.map(group),
      ...s.agents.map((x) => `agent ${x}`),
    ].join(' or ') || 'nobody';
  const lines = [`${r.quorum} approval${r.quorum === 1 ? '' : 's'} from ${who(r.approvers)}`];
  if (r.requireEach.length > 0)
    lines.push(`  and one from each of ${r.requireEach.map(group).join(' and ')}`);
  const terms = [`${r.denyThreshold} denial${r.denyThreshold === 1 ? ' denies' : 's deny'} it`];
  if (r.requireReason) terms.push('every vote needs a reason');
  terms.push(`on timeout: ${r.onTimeout}`);
  if (r.escalate) terms.push(`after ${formatDuration(r.escalate.afterMs)} also ${who(r.escalate.to)}`);
  lines.push(`  (${terms.join('; ')})`);
  return lines;
}

function voteText(v: ApprovalView['votes'][number]): string {
  const what = v.vote === 'approve' ? 'approved' : 'denied';
  const via = v.via ? ` via ${v.via}` : '';
  const why = v.reason ? `: ${JSON.stringify(v.reason)}` : '';
  return `${what} by ${v.principal} (${v.kind}, ${v.role}) at ${v.ts}${via}${why}`;
}

/** The readable block `approvals show` prints. Arguments are shown as stored: already redacted. */
export function describeApproval(a: ApprovalView, now: number): string {
  const rows: [string, string | readonly string[]][] = [
    ['status', a.status],
    ['agent', a.agent],
    ['session', a.session],
    ['tool', a.tool],
    ['target', a.target ?? '—'],
    ['call', a.callId],
    ['rule', `${a.ruleId ?? '(default)'} (policy ${a.policyVersion.slice(0, 12)})`],
    ['reasons', a.reasons.length > 0 ? a.reasons : ['—']],
    ['triggered by', a.triggeredBy ?? '—'],
    ['delegation', a.delegationChain.length > 0 ? [...a.delegationChain, a.agent].join(' → ') : '—'],
    ['requires', a.requirements.length > 0 ? a.requirements.flatMap((r) => requirementText(a, r)) : ['—']],
    ['votes', a.votes.length > 0 ? a.votes.map(voteText) : ['none yet']],
    ['progress', progressText(a.progress)],
    ['created', a.createdAt],
    [
      'expires',
      `${a.expiresAt}${a.status === 'pending' ? ` (in ${timeLeft(a.expiresAt, now)})` : ''}, then ${a.onTimeout}`,
    ],
  ];
  if (a.escalateAt) rows.push(['escalates', a.escalateAt]);
  if (a.escalated) rows.push(['escalated', 'yes']);
  if (a.decidedAt) {
    const by = a.decidedBy ? ` by ${a.decidedBy}${a.override ? ' (override)' : ''}` : '';
    // A used or voided request was approved first: the decision is what this row shows.
    const outcome = a.status === 'used' || a.status === 'voided' ? 'approved' : a.status;
    rows.push(['decided', `${outcome}${by} at ${a.decidedAt}`]);
  }
  if (a.outcomeReason) rows.push(['because', a.outcomeReason]);
  if (a.usedAt) rows.push(['used', `by call ${a.usedByCall ?? '?'} at ${a.usedAt}`]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = [`Approval request ${a.id}`];
  for (const [k, v] of rows) {
    const [first = '', ...more] = typeof v === 'string' ? [v] : v;
    lines.push(`  ${k.padEnd(width)}${first}`, ...more.map((line) => `  ${''.padEnd(width)}${line}`));
  }
  lines.push(
    a.argsFlags?.length
      ? `  args (redacted as audited; ${a.argsFlags.join(', ')}: NOT all of the arguments are shown)`
      : '  args (redacted as audited)',
  );
  const args = JSON.stringify(a.args ?? null, null, 2) ?? 'null';
  for (const line of args.split('\n')) lines.push(`    ${line}`);
  return `${lines.join('\n')}\n`;
}
