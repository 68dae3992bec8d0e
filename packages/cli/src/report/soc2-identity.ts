import type { ProofMethod, Soc2Report } from '@warden/core';
import { type Block, type Cell, cut } from './report-blocks.js';
import { count, more, or, plural, refCells, topRows } from './report-format.js';

/** How the report names each method (the dashboard's badges say the same words, shorter). */
const METHOD_NAMES: Record<ProofMethod, string> = {
  api_key: 'API key',
  oidc: 'SSO (issuer + subject)',
  task_token: 'Task token',
  system: 'Warden itself',
  claimed: 'Claimed, unverified',
};

function methodCell(m: ProofMethod): Cell {
  return m === 'claimed' ? { text: METHOD_NAMES[m], tone: 'warn' } : METHOD_NAMES[m];
}

/**
 * CC6, identities: who appears in the period's events grouped by how each was verified, the decisions
 * that relied on claims nothing verified, and the identities refused.
 */
export function identityBlocks(r: Soc2Report): Block[] {
  const s = r.access.identities;
  const flagged = s.unverifiedDecisions;
  return [
    { kind: 'heading', level: 3, text: 'Identities by how they were verified' },
    {
      kind: 'para',
      text: `Every identity the period's events name — the actor of each event, and the agent, initiator and delegation chain of each call — by how it was verified: an API key (its key id), SSO (the identity provider's issuer and subject), a Warden task token, or a name the caller wrote that nothing verified (claimed; every initiator and chain recorded before verified identity, or without a task token). Approval events name the parties of their request again and count only for the person who acted.`,
    },
    {
      kind: 'table',
      header: ['Verified by', 'Identities', 'Events', 'Decisions'],
      rows: s.byMethod.map((m) => [
        methodCell(m.method),
        count(m.identities),
        count(m.events),
        count(m.decisions),
      ]),
      more: 0,
      empty: '',
    },
    {
      kind: 'table',
      header: [
        'Verified by',
        'Identity',
        'Key id / issuer and subject',
        'As',
        'Events',
        'Decisions',
        'First seq',
      ],
      rows: s.identities.items.map((x) => [
        methodCell(x.method),
        x.name,
        or(x.detail),
        x.roles.join(', '),
        count(x.events),
        count(x.decisions),
        String(x.firstSeq),
      ]),
      more: more(s.identities),
      empty: 'No identities in the period.',
    },
    ...(s.untracked > 0
      ? [
          {
            kind: 'para',
            text: `${plural(s.untracked, 'further occurrence')} of names beyond the tracking limit are counted above by method but not listed by name.`,
          } as const,
        ]
      : []),
    { kind: 'heading', level: 3, text: 'Decisions that relied on unverified claims' },
    {
      kind: 'para',
      text: 'Calls sent for review whose initiator or a delegate was only claimed, and approvals a person decided on such a request: separation of duties and approver eligibility compared names that nothing verified. A policy that requires task tokens (identity: { requireTaskToken: true }) refuses such calls.',
    },
    flagged.total === 0
      ? { kind: 'callout', tone: 'ok', text: 'No decision in the period relied on an unverified claim.' }
      : {
          kind: 'callout',
          tone: 'warn',
          text: `${plural(flagged.total, 'decision')} relied on unverified claims.`,
        },
    {
      kind: 'table',
      header: [
        'Seq',
        'Time',
        'Event',
        'Decided',
        'Approval',
        'Agent',
        'Tool',
        'Claimed, unverified',
        'Read from',
      ],
      rows: flagged.items.map((x) => [
        ...refCells(x),
        x.type,
        x.decided,
        or(x.approvalId),
        or(x.agent),
        or(x.tool),
        { text: cut(x.claimed.join(', ')), tone: 'warn' },
        x.from === 'request' ? "the request's call.decided" : 'the event',
      ]),
      more: more(flagged),
      empty: 'None.',
    },
    { kind: 'heading', level: 3, text: 'Identities refused' },
    {
      kind: 'para',
      text: `${plural(s.refusedTotal, 'identity.refused event')} (a forged, expired, replayed or foreign token, or a body that disagrees with its token), by code and reason; ${plural(s.rolesChanged, 'identity.roles_changed event')} (a person's role or identity-provider groups changed at sign-in).`,
    },
    { kind: 'table', header: ['Code: reason', 'Refused'], rows: topRows(s.refused), more: 0, empty: 'None.' },
  ];
}

/** The summary's rows for identities. */
export function identitySummaryRows(r: Soc2Report): [string, number][] {
  const s = r.access.identities;
  const claimed = s.byMethod.find((m) => m.method === 'claimed');
  return [
    ['Identities claimed, unverified', claimed?.identities ?? 0],
    ['Decisions relying on unverified claims', s.unverifiedDecisions.total],
    ['Identities refused', s.refusedTotal],
    ['Role or group changes at sign-in', s.rolesChanged],
  ];
}
