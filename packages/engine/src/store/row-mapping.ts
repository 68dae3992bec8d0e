import type { AuditEvent, AuditRecord, ChainedRow } from '@warden/core';
import type { SessionRecord } from './store.js';

/** A session as both dialects store it (snake_case columns, the delegation chain as JSON text). */
export type SessionRow = {
  id: string;
  agent: string;
  state: SessionRecord['state'];
  state_reason: string | null;
  triggered_by: string | null;
  delegation_chain: string;
  created_at: string;
  updated_at: string;
};

/** A stored session row as the Store returns it. */
export function toSession(r: SessionRow): SessionRecord {
  return {
    id: r.id,
    agent: r.agent,
    state: r.state,
    stateReason: r.state_reason,
    triggeredBy: r.triggered_by,
    delegationChain: JSON.parse(r.delegation_chain) as string[],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A chained row with its body parsed. */
export function toRecord(r: ChainedRow): AuditRecord {
  return { seq: r.seq, prev: r.prev, hash: r.hash, event: JSON.parse(r.body) as AuditEvent };
}
