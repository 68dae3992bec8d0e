import type { Soc2Report } from '@warden/core';
import type { Block } from './report-blocks.js';
import { count, plural, time, version } from './report-format.js';
import { identityBlocks, identitySummaryRows } from './soc2-identity.js';
import { accessBlocks, budgetBlocks, operationsBlocks, separationBlocks } from './soc2-sections.js';

/**
 * The SOC 2 evidence report laid out as blocks: a summary, the decisions chart, CC6 (logical access),
 * CC7 (system operations), separation of duties, budget incidents, the chain's integrity, and the
 * commands that reproduce the figures.
 */
export function soc2Document(r: Soc2Report): Block[] {
  return [
    { kind: 'heading', level: 1, text: 'Warden SOC 2 evidence report' },
    {
      kind: 'facts',
      rows: [
        ['Period', `${time(r.period.from)} to ${time(r.period.to)} (end excluded, UTC)`],
        ['Generated', time(r.generatedAt)],
        ['Database', `${r.source.dialect}: ${r.source.location}`],
        [
          'Events in the period',
          r.events.total === 0
            ? 'none'
            : `${count(r.events.total)} (seq ${r.events.firstSeq}–${r.events.lastSeq})`,
        ],
      ],
    },
    ...headline(r),
    { kind: 'heading', level: 2, text: 'Summary', id: 'summary' },
    { kind: 'table', header: ['Figure', 'Count'], rows: summaryRows(r), more: 0, empty: '' },
    { kind: 'heading', level: 2, text: 'Decisions over time', id: 'decisions' },
    {
      kind: 'para',
      text: `Tool-call decisions (call.decided events) per ${r.granularity}: ${count(r.decisions.allow)} allowed, ${count(r.decisions.review)} sent for review, ${count(r.decisions.block)} blocked.`,
    },
    { kind: 'chart' },
    ...accessBlocks(r),
    ...identityBlocks(r),
    ...operationsBlocks(r),
    ...separationBlocks(r),
    ...budgetBlocks(r),
    ...integrityBlocks(r),
    ...reproduceBlocks(r),
  ];
}

/** The three verdicts an auditor looks for first: chain, separation of duties, checkpoint coverage. */
function headline(r: Soc2Report): Block[] {
  const v = r.integrity.verify;
  const violations = r.separation.violations.total;
  return [
    v.ok
      ? { kind: 'callout', tone: 'ok', text: `Audit chain intact: ${plural(v.checked, 'event')} verified.` }
      : {
          kind: 'callout',
          tone: 'bad',
          text: `AUDIT CHAIN BROKEN at seq ${v.problem?.seq}: ${v.problem?.message} (${v.problem?.code}). The figures below come from a chain that failed verification.`,
        },
    violations === 0
      ? {
          kind: 'callout',
          tone: 'ok',
          text: `Separation of duties held: in ${plural(r.separation.checked, 'approval decision')} and ${plural(r.separation.votesChecked, 'vote')}, no requester approved their own request.`,
        }
      : {
          kind: 'callout',
          tone: 'bad',
          text: `SEPARATION OF DUTIES VIOLATED ${plural(violations, 'time')}: a requester decided their own request. See "Separation of duties".`,
        },
    coverage(r),
  ];
}

function coverage(r: Soc2Report): Block {
  const c = r.integrity.covering;
  if (r.events.total === 0) return { kind: 'callout', tone: 'warn', text: 'No events in the period.' };
  if (!c) {
    return {
      kind: 'callout',
      tone: 'warn',
      text: `No signed checkpoint covers the period yet: its last event (seq ${r.events.lastSeq}) is after the last checkpoint. Run \`warden audit checkpoint\` (or wait for the next periodic one) and generate the report again.`,
    };
  }
  return {
    kind: 'callout',
    tone: 'ok',
    text: `Signed checkpoint at seq ${c.seq} (key ${c.keyId}, ${time(c.ts)}) covers every event of the period.`,
  };
}

function summaryRows(r: Soc2Report): string[][] {
  const a = r.access;
  const pauses = r.budgets.resolution;
  const rows: [string, number][] = [
    ['Decisions: allowed', r.decisions.allow],
    ['Decisions: sent for review', r.decisions.review],
    ['Decisions: blocked', r.decisions.block],
    ['Loop breakers tripped', r.operations.breakerTrips.total],
    ['Budgets exceeded', r.operations.budgetExceeded],
    ['Budget alerts', r.budgets.alerts.total],
    ['Approvals decided', r.separation.decided.total],
    ['Approvals denied', r.operations.approvalsDenied.total],
    ['Approvals expired', r.operations.approvalsExpired.total],
    ['Separation-of-duties violations', r.separation.violations.total],
    ['Self-approval attempts refused', r.separation.refused.total],
    ['Policy changes', a.policyChanges.total],
    ['API keys created', a.keysCreated.total],
    ['API keys revoked', a.keysRevoked.total],
    ['Dashboard sign-ins', a.signIns.total],
    ...identitySummaryRows(r),
    ['… signed out before they expired', a.signOuts],
    ['Grants added', a.grantsAdded.total],
    ['Grants revoked', a.grantsRevoked.total],
    ['Grants expired', a.grantsExpired.total],
    ['Sessions paused', r.budgets.pauses.total],
    ['… resumed in the period', pauses.resumed],
    ['… closed in the period', pauses.closed],
    ['… still paused at its end', pauses.open],
  ];
  return rows.map(([label, n]) => [label, count(n)]);
}

function integrityBlocks(r: Soc2Report): Block[] {
  const v = r.integrity.verify;
  const c = r.integrity.covering;
  const range = v.firstSeq === null ? 'no events' : `seq ${v.firstSeq}–${v.lastSeq}`;
  return [
    { kind: 'heading', level: 2, text: 'Audit chain integrity', id: 'integrity' },
    {
      kind: 'para',
      text: 'The whole chain was verified, not only the period: every hash recomputed, every sequence number present, every checkpoint signature checked.',
    },
    {
      kind: 'facts',
      rows: [
        [
          'Result',
          v.ok ? 'intact' : `BROKEN at seq ${v.problem?.seq}: ${v.problem?.message} (${v.problem?.code})`,
        ],
        ['Events verified', `${count(v.checked)} (${range})`],
        ['Checkpoints verified', count(v.checkpointsChecked)],
        ['Last signed checkpoint', v.lastCheckpointSeq === null ? 'none' : `seq ${v.lastCheckpointSeq}`],
        ['Events not yet signed', count(v.unsignedTail)],
        [
          'Keys trusted',
          r.integrity.trustedKeys === 'file'
            ? 'the public key(s) given with --keys'
            : 'the keys registered in the database',
        ],
        ['Checkpoints signed inside the period', count(r.integrity.checkpointsInPeriod)],
      ],
    },
    { kind: 'heading', level: 3, text: 'Checkpoint covering the period' },
    c
      ? {
          kind: 'facts',
          rows: [
            ['Checkpoint', `seq ${c.seq} (${c.kind})`],
            [
              'Vouches for',
              `seq ${c.fromSeq}–${c.seq}, which holds the period's events (seq ${r.events.firstSeq}–${r.events.lastSeq})`,
            ],
            ['Signed at', time(c.ts)],
            ['Signing key id', c.keyId],
            ['Chain hash at seq', c.hash],
          ],
        }
      : coverage(r),
  ];
}

function reproduceBlocks(r: Soc2Report): Block[] {
  const range = `--from ${r.period.from} --to ${r.period.to}`;
  const q = (rest: string) => `warden audit query ${range} ${rest} --limit 10000 --format jsonl`;
  return [
    { kind: 'heading', level: 2, text: 'Reproducing these figures', id: 'reproduce' },
    {
      kind: 'para',
      text: `Every figure is counted from audit events whose time is in the period. Each row names the seq of its event. Policy rules per agent come from the stored text of version ${version(r.access.policyAtEnd.version)}. With the same database:`,
    },
    {
      kind: 'code',
      lines: [
        'warden audit verify',
        q('--type call.decided --decision block'),
        q('--type approval.decided'),
        q('--type approval.refused'),
        q('--type identity.refused'),
        q('--type identity.roles_changed'),
        q('--type policy.changed'),
        q('--type budget.exceeded'),
        q('--type breaker.tripped'),
        q('--type session.paused'),
      ],
    },
  ];
}
