import { type AuditEvent, type AuditRecord, type ChainedRow, WardenError } from '@warden/core';
import type { ApiKeyRecord, FoundCall, PolicyVersionRecord, SessionRecord, SessionUsage } from './store.js';

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

/** A call's decided, completed and voided rows, as both dialects' findCall read them. */
export function foundCall(rows: readonly (ChainedRow & { type: string })[]): FoundCall {
  const decided = rows.find((r) => r.type === 'call.decided');
  const voided = rows.find((r) => r.type === 'call.voided');
  return {
    decided: decided ? toRecord(decided) : undefined,
    completed: rows.some((r) => r.type === 'call.completed'),
    ...(voided ? { voided: toRecord(voided) } : {}),
  };
}

/** An API key as both dialects store it (snake_case columns). */
export type ApiKeyRow = {
  id: string;
  hash: string;
  prefix: string;
  principal_kind: ApiKeyRecord['principalKind'];
  principal: string;
  role: ApiKeyRecord['role'];
  label: string | null;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
  permissions: string;
};

/** The api_keys columns reads select and the INSERT writes, in the order of `apiKeyValues`. */
export const API_KEY_COLUMNS =
  'id, hash, prefix, principal_kind, principal, role, label, created_at, created_by, expires_at, revoked_at, revoked_by, permissions';

/** A key's column values, in API_KEY_COLUMNS order. */
export function apiKeyValues(k: ApiKeyRecord): (string | null)[] {
  return [
    k.id,
    k.hash,
    k.prefix,
    k.principalKind,
    k.principal,
    k.role,
    k.label,
    k.createdAt,
    k.createdBy,
    k.expiresAt,
    k.revokedAt,
    k.revokedBy,
    JSON.stringify(k.permissions ?? []),
  ];
}

/** A stored API key row as the Store returns it. */
export function toApiKey(r: ApiKeyRow): ApiKeyRecord {
  return {
    id: r.id,
    hash: r.hash,
    prefix: r.prefix,
    principalKind: r.principal_kind,
    principal: r.principal,
    role: r.role,
    label: r.label,
    createdAt: r.created_at,
    createdBy: r.created_by,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
    permissions: JSON.parse(r.permissions ?? '[]') as ApiKeyRecord['permissions'] & {},
  };
}

/** A stored policy as both dialects store it (the sources as JSON text). */
export type PolicyVersionRow = {
  version: string;
  name: string;
  mode: PolicyVersionRecord['mode'];
  sources: string;
  created_at: string;
  created_by: string;
};

/** The policy_versions columns reads select and the INSERT writes, in the order of `policyVersionValues`. */
export const POLICY_VERSION_COLUMNS = 'version, name, mode, sources, created_at, created_by';

/**
 * A policy's column values, in POLICY_VERSION_COLUMNS order. The sources go as JSON text, which escapes
 * U+0000 and lone surrogates, so PostgreSQL can hold any YAML text a file may contain.
 */
export function policyVersionValues(p: PolicyVersionRecord): string[] {
  return [
    p.version,
    p.name,
    p.mode,
    JSON.stringify(p.sources.map((s) => ({ path: s.path, text: s.text }))),
    p.createdAt,
    p.createdBy,
  ];
}

/** A conditional `policy.store` (its `ifCurrent`) against the newest stored version: POLICY_CONFLICT if it moved. */
export function refuseUnlessCurrent(newest: string | null, ifCurrent: string | null): void {
  if (newest === ifCurrent) return;
  throw new WardenError(
    'POLICY_CONFLICT',
    `the stored policy is ${newest ?? 'none'}, not ${ifCurrent ?? 'none'} as expected: another change was stored first`,
    { stored: newest, expected: ifCurrent },
  );
}

/** A stored policy row as the Store returns it. */
export function toPolicyVersion(r: PolicyVersionRow): PolicyVersionRecord {
  return {
    version: r.version,
    name: r.name,
    mode: r.mode,
    sources: JSON.parse(r.sources) as PolicyVersionRecord['sources'],
    createdAt: r.created_at,
    createdBy: r.created_by,
  };
}

/**
 * One row of a session's usage query: a count of its call.decided events with one effect (body null), or
 * the body of one of its call.completed events (n = 1).
 */
export type UsageRow = { type: string; effect: string | null; n: number; body: string | null };

/**
 * Totals a session's usage rows. Counts come from the query columns; usage is read from completion bodies
 * here, not in SQL, because PostgreSQL cannot cast a body holding U+0000 to jsonb.
 */
export function toSessionUsage(rows: readonly UsageRow[]): SessionUsage {
  const calls = { allow: 0, review: 0, block: 0 };
  const usage = { completed: 0, errors: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
  for (const r of rows) {
    if (r.type === 'call.decided') {
      if (r.effect === 'allow' || r.effect === 'review' || r.effect === 'block') calls[r.effect] += r.n;
      continue;
    }
    if (r.body === null) continue;
    const outcome = (JSON.parse(r.body) as AuditEvent).outcome;
    usage.completed += 1;
    if (outcome?.status === 'error') usage.errors += 1;
    usage.inputTokens += amount(outcome?.usage?.inputTokens);
    usage.outputTokens += amount(outcome?.usage?.outputTokens);
    usage.costUsd += amount(outcome?.usage?.costUsd);
  }
  return { calls, ...usage };
}

/** A reported usage figure, or 0 when it is missing or not a finite number (bodies are not re-validated). */
function amount(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
