import { type AuditRecord, callParties, canonicalJson, proofLabel, recordsCall } from '@warden/core';
import { parseAuditQuery } from '@warden/engine';
import { type CliIo, EXIT } from '../cli-io.js';
import { renderTable } from '../table.js';
import { parseCount, parseTimeFlag, shellArg, withStore } from './audit-store.js';

export interface QueryOptions {
  readonly db: string;
  readonly from?: string;
  readonly to?: string;
  readonly agent?: string;
  readonly session?: string;
  readonly tool?: string;
  readonly type?: string;
  readonly decision?: string;
  readonly rule?: string;
  readonly approver?: string;
  readonly triggeredBy?: string;
  readonly actor?: string;
  readonly limit?: string;
  readonly cursor?: string;
  readonly format: 'table' | 'jsonl';
}

/** How many events a page shows unless --limit says otherwise. */
export const DEFAULT_QUERY_LIMIT = 50;

/**
 * `warden audit query`: one page of audit events matching every filter given, oldest first, as a table
 * or as JSONL (one AuditRecord per line). When more match, stderr says how to get the next page.
 */
export async function auditQuery(o: QueryOptions, io: CliIo): Promise<number> {
  const filters = {
    from: parseTimeFlag('--from', o.from),
    to: parseTimeFlag('--to', o.to),
    agent: o.agent,
    session: o.session,
    tool: o.tool,
    type: o.type,
    decision: o.decision,
    rule: o.rule,
    approver: o.approver,
    triggeredBy: o.triggeredBy,
    actor: o.actor,
    limit: parseCount('--limit', o.limit, '200') ?? DEFAULT_QUERY_LIMIT,
    cursor: o.cursor,
  };
  const query = parseAuditQuery(
    Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined)),
  );
  const page = await withStore(o.db, io, (store) => store.queryAudit(query));
  if (o.format === 'jsonl') {
    for (const r of page.records) io.out(`${canonicalJson(r)}\n`);
  } else if (page.records.length > 0) {
    io.out(`${renderTable(HEADER, page.records.map(row), WIDTHS)}\n`);
  }
  if (page.records.length === 0) io.err('no events match\n');
  if (page.nextCursor) io.err(`more: --cursor ${shellArg(page.nextCursor)}\n`);
  return EXIT.ok;
}

const HEADER = ['seq', 'time', 'type', 'actor', 'agent', 'tool', 'decision', 'rule', 'initiator', 'session'];
/** Session ids are UUIDs (36 characters): shown whole, so they can be pasted into --session. */
const WIDTHS = [12, 20, 20, 24, 24, 32, 8, 28, 36, 36];

function row(r: AuditRecord): string[] {
  const e = r.event;
  const cell = (v: string | null | undefined) => (v === undefined || v === null || v === '' ? '—' : v);
  return [
    String(r.seq),
    e.ts.replace(/\.\d+Z$/, 'Z'),
    e.type,
    e.actor.id,
    cell(e.agent),
    cell(e.tool),
    cell(e.decision?.effect),
    cell(e.decision?.ruleId),
    initiator(r),
    cell(e.session),
  ];
}

/**
 * Who the call was for, led by how that was verified so a cut cell keeps it: `UNVERIFIED: sam` for a
 * name the caller wrote, `SSO: alice@acme.example`, `key: backend`, `task token: …`. Only on the events
 * that record a call (approvals name their request's initiator again without its proof).
 */
function initiator(r: AuditRecord): string {
  if (!recordsCall(r.event)) return '—';
  const who = callParties(r.event).find((p) => p.role === 'initiator');
  if (!who) return '—';
  const how = who.proof.method === 'claimed' ? 'UNVERIFIED' : proofLabel(who.proof.method);
  return `${how}: ${who.name}`;
}
