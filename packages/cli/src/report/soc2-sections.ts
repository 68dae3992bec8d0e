import type { ApprovalRow, BudgetRow, Capped, PauseRow, Soc2Report } from '@warden/core';
import { type Block, type Cell, cut } from './report-blocks.js';
import { count, more, or, plural, refCells, time, topRows, version } from './report-format.js';

/** A table of a capped list: its kept rows, "and N more" for the rest. */
function table<T>(header: string[], list: Capped<T>, row: (item: T) => Cell[], empty: string): Block {
  return { kind: 'table', header, rows: list.items.map(row), more: more(list), empty };
}

const h2 = (text: string, id: string): Block => ({ kind: 'heading', level: 2, text, id });
const h3 = (text: string): Block => ({ kind: 'heading', level: 3, text });

/** CC6: the policy each agent is under, its changes, API keys, signing keys and grants. */
export function accessBlocks(r: Soc2Report): Block[] {
  const a = r.access;
  const p = a.policyAtEnd;
  return [
    h2('CC6 Logical access', 'cc6'),
    h3('Policy in force at the end of the period'),
    {
      kind: 'facts',
      rows: [
        ['Version', p.version ?? 'unknown'],
        ['Name', or(p.name)],
        ['Mode', or(p.mode)],
        ['In force since', p.since ? `seq ${p.since.seq}, ${time(p.since.ts)}, by ${p.since.by}` : '—'],
      ],
    },
    p.agents
      ? {
          kind: 'table',
          header: ['Agent', 'Rules', 'Allow', 'Review', 'Block', 'Budgets'],
          rows: p.agents.map((x) => [
            x.agent === '*' ? '* (any other agent)' : x.agent,
            count(x.rules),
            count(x.allow),
            count(x.review),
            count(x.block),
            count(x.budgets),
          ]),
          more: 0,
          empty: 'The policy names no agents.',
        }
      : { kind: 'callout', tone: 'warn', text: `Rules per agent not listed: ${p.note ?? 'unknown policy'}.` },
    h3('Policy changes'),
    table(
      ['Seq', 'Time', 'Changed by', 'Old version', 'New version', 'Name', 'Mode'],
      a.policyChanges,
      // The first stored version names itself as the old one too: there was none before it.
      (x) => [
        ...refCells(x),
        x.by,
        x.oldVersion === x.newVersion ? '— (first stored)' : version(x.oldVersion),
        version(x.newVersion),
        or(x.name),
        or(x.mode),
      ],
      'No policy changes in the period.',
    ),
    h3('API keys issued'),
    table(
      ['Seq', 'Time', 'Issued by', 'Key id', 'Principal', 'Role', 'Expires'],
      a.keysCreated,
      (x) => [
        ...refCells(x),
        x.by,
        x.keyId,
        `${x.principal} (${x.principalKind})`,
        x.role,
        time(x.expiresAt),
      ],
      'No API keys issued in the period.',
    ),
    h3('API keys revoked'),
    table(
      ['Seq', 'Time', 'Revoked by', 'Key id', 'Principal', 'Role', 'Reason'],
      a.keysRevoked,
      (x) => [...refCells(x), x.by, x.keyId, or(x.principal), or(x.role), cut(or(x.reason))],
      'No API keys revoked in the period.',
    ),
    h3('Dashboard sign-ins'),
    table(
      ['Seq', 'Time', 'Person', 'Role', 'Key id', 'From', 'Until'],
      a.signIns,
      (x) => [...refCells(x), x.by, or(x.role), or(x.keyId), or(x.address), time(x.expiresAt)],
      'No dashboard sign-ins in the period.',
    ),
    h3('Checkpoint signing keys registered'),
    table(
      ['Seq', 'Time', 'Event', 'Key id'],
      a.signingKeys,
      (x) => [...refCells(x), x.type, x.keyId],
      'No signing key registered or rotated in the period.',
    ),
    h3('Grants added'),
    table(
      ['Seq', 'Time', 'Granted by', 'Grant', 'Agent', 'Tool', 'Session', 'Expires', 'Reason'],
      a.grantsAdded,
      (x) => [
        ...refCells(x),
        x.by,
        x.grantId,
        x.agent,
        x.tool,
        or(x.session),
        time(x.expiresAt),
        cut(or(x.reason)),
      ],
      'No grants added in the period.',
    ),
    h3('Grants revoked'),
    table(
      ['Seq', 'Time', 'Revoked by', 'Grant', 'Agent', 'Reason'],
      a.grantsRevoked,
      (x) => [...refCells(x), x.by, x.grantId, or(x.agent), cut(or(x.reason))],
      'No grants revoked in the period.',
    ),
    h3('Grants expired'),
    {
      kind: 'para',
      text: 'Grants whose expiry fell in the period without being revoked before it (seq: the grant.added event).',
    },
    table(
      ['Seq', 'Granted', 'Granted by', 'Grant', 'Agent', 'Tool', 'Expired'],
      a.grantsExpired,
      (x) => [...refCells(x), x.by, x.grantId, x.agent, x.tool, time(x.expiresAt)],
      'No grants expired in the period.',
    ),
  ];
}

/** CC7: blocked attempts, breakers, anomalies, approvals denied and expired. */
export function operationsBlocks(r: Soc2Report): Block[] {
  const o = r.operations;
  const approvals = (list: Capped<ApprovalRow>, empty: string) =>
    table(
      ['Seq', 'Time', 'Approval', 'Agent', 'Triggered by', 'Tool', 'Decided by', 'Reason'],
      list,
      (x) => [
        ...refCells(x),
        x.approvalId,
        or(x.agent),
        or(x.triggeredBy),
        or(x.tool),
        x.deciders.join(', ') || x.by,
        cut(or(x.reason)),
      ],
      empty,
    );
  return [
    h2('CC7 System operations', 'cc7'),
    h3('Blocked attempts'),
    {
      kind: 'para',
      text: `${plural(o.blocked, 'call')} blocked in the period (call.decided with effect block), by a rule, the default block, or an engine code (paused session, budget, loop breaker…).`,
    },
    { kind: 'table', header: ['Agent', 'Blocked'], rows: topRows(o.blockedByAgent), more: 0, empty: 'None.' },
    {
      kind: 'table',
      header: ['Rule or code', 'Blocked'],
      rows: topRows(o.blockedByRule),
      more: 0,
      empty: 'None.',
    },
    h3('Anomalies'),
    {
      kind: 'facts',
      rows: [
        ['Loop breakers tripped (runaway detection)', count(o.breakerTrips.total)],
        ['Budgets exceeded', count(o.budgetExceeded)],
      ],
    },
    table(
      ['Seq', 'Time', 'Agent', 'Session', 'Breaker', 'Reason'],
      o.breakerTrips,
      (x) => [...refCells(x), or(x.agent), or(x.session), x.breaker, cut(or(x.reason))],
      'No loop breaker tripped in the period.',
    ),
    h3('Approvals denied'),
    approvals(o.approvalsDenied, 'No approvals denied in the period.'),
    h3('Approvals expired'),
    approvals(o.approvalsExpired, 'No approvals expired in the period.'),
  ];
}

function sodCell(x: ApprovalRow): Cell {
  if (x.sod === 'violation') return { text: 'VIOLATION', tone: 'bad' };
  if (x.sod === 'ok') return { text: 'yes', tone: 'ok' };
  return 'no approver';
}

/** Every approval decided, requester against approver, and the self-approvals refused. */
export function separationBlocks(r: Soc2Report): Block[] {
  const s = r.separation;
  const outcomes = Object.entries(s.outcomes).map(([k, n]) => [k, count(n)]);
  return [
    h2('Separation of duties', 'sod'),
    {
      kind: 'para',
      text: 'For every approval decided, the deciders (the approvers the event names, or the person whose vote or override decided it) are compared with the requesters (the agent, the human who triggered the call, the delegation chain), the way Warden compares names (case, spacing and invisible characters ignored). Every vote cast is checked the same way.',
    },
    s.violations.total === 0
      ? {
          kind: 'callout',
          tone: 'ok',
          text: `No violation: ${plural(s.checked, 'decision')} by a person and ${plural(s.votesChecked, 'vote')} checked.`,
        }
      : {
          kind: 'callout',
          tone: 'bad',
          text: `${plural(s.violations.total, 'VIOLATION')}: a requester decided or voted on their own request.`,
        },
    ...(s.violations.total > 0
      ? [
          table(
            ['Seq', 'Time', 'Event', 'Approval', 'Decided by', 'Requesters'],
            s.violations,
            (x) => [
              ...refCells(x),
              x.type,
              or(x.approvalId),
              { text: x.principal, tone: 'bad' },
              x.requester,
            ],
            '',
          ),
        ]
      : []),
    {
      kind: 'table',
      header: ['Outcome', 'Approvals'],
      rows: outcomes,
      more: 0,
      empty: 'No approvals decided.',
    },
    h3('Approvals decided'),
    table(
      [
        'Seq',
        'Time',
        'Approval',
        'Agent',
        'Triggered by',
        'Tool',
        'Outcome',
        'Decided by',
        'Requester ≠ approver',
      ],
      s.decided,
      (x) => [
        ...refCells(x),
        x.approvalId,
        or(x.agent),
        or(x.triggeredBy),
        or(x.tool),
        x.override ? `${x.outcome} (override)` : x.outcome,
        x.deciders.join(', ') || x.by,
        sodCell(x),
      ],
      'No approvals decided in the period.',
    ),
    h3('Self-approval attempts refused'),
    table(
      ['Seq', 'Time', 'Who', 'Act', 'Approval or session', 'Code', 'Reason'],
      s.refused,
      (x) => [...refCells(x), x.by, x.act, or(x.approvalId ?? x.session), or(x.code), cut(or(x.reason))],
      'No refused attempts in the period.',
    ),
  ];
}

function budgetCells(x: BudgetRow): string[] {
  const used = x.used === null ? '—' : `${x.used}${x.limit === null ? '' : ` of ${x.limit}`}`;
  return [...refCells(x), or(x.agent), or(x.session), or(x.budgetId), or(x.scopeKey), or(x.metric), used];
}

function resolution(x: PauseRow): Cell {
  if (x.resolution === 'open') return { text: 'still paused at the end of the period', tone: 'warn' };
  return `${x.resolution} by ${x.resolvedBy} at ${time(x.resolvedAt)} (seq ${x.resolvedSeq})`;
}

/** Budget breaches, alerts, pauses and how each pause ended, and limits raised on resume. */
export function budgetBlocks(r: Soc2Report): Block[] {
  const b = r.budgets;
  return [
    h2('Budget incidents', 'budgets'),
    {
      kind: 'facts',
      rows: [
        ['Budgets exceeded', count(b.exceeded.total)],
        ['Alerts', count(b.alerts.total)],
        ['Sessions paused', count(b.pauses.total)],
        ['… resumed in the period', count(b.resolution.resumed)],
        ['… closed in the period', count(b.resolution.closed)],
        ['… still paused at its end', count(b.resolution.open)],
      ],
    },
    h3('Budgets exceeded'),
    table(
      ['Seq', 'Time', 'Agent', 'Session', 'Budget', 'Scope', 'Metric', 'Used'],
      b.exceeded,
      budgetCells,
      'No budget exceeded in the period.',
    ),
    h3('Budget alerts'),
    table(
      ['Seq', 'Time', 'Agent', 'Session', 'Budget', 'Scope', 'Metric', 'Used', 'Threshold'],
      b.alerts,
      (x) => [...budgetCells(x), x.threshold === null ? '—' : `${x.threshold} %`],
      'No budget alerts in the period.',
    ),
    h3('Sessions paused and how each was resolved'),
    table(
      ['Seq', 'Time', 'Session', 'Agent', 'Paused by', 'Cause', 'Reason', 'Resolution'],
      b.pauses,
      (x) => [
        ...refCells(x),
        x.session,
        or(x.agent),
        x.by,
        x.code ?? 'a person',
        cut(or(x.reason)),
        resolution(x),
      ],
      'No session paused in the period.',
    ),
    h3('Limits raised on resume'),
    table(
      ['Seq', 'Time', 'Raised by', 'Session', 'Budget', 'From', 'To'],
      b.raised,
      (x) => [...refCells(x), x.by, or(x.session), or(x.budgetId), or(x.from), or(x.to)],
      'No limits raised in the period.',
    ),
  ];
}
