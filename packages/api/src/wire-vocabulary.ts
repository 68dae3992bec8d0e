/**
 * The words of the wire: every enumeration a request or response of the HTTP API uses. Public API: add,
 * never rename. They are defined here, in the contract, and the domain packages (core, engine) import
 * them from here, so a value the server sends is one a client's types know.
 */

/** The three tiers of a decision. */
export const EFFECTS = ['allow', 'review', 'block'] as const;
export type Effect = (typeof EFFECTS)[number];

/** pending → approved | denied | expired | cancelled; approved → used | voided. */
export const APPROVAL_STATUSES = [
  'pending',
  'approved',
  'denied',
  'expired',
  'cancelled',
  'used',
  'voided',
] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

export const SESSION_STATES = ['active', 'paused', 'closed'] as const;
export type SessionState = (typeof SESSION_STATES)[number];

export const API_ROLES = ['agent', 'approver', 'admin', 'auditor'] as const;
/** What a key may do: `agent` checks and completes its own calls; the others are people and services. */
export type ApiRole = (typeof API_ROLES)[number];
export const PRINCIPAL_KINDS = ['agent', 'human', 'service'] as const;

/**
 * What a key may do beyond its role. `initiator`: a service key (a trusted backend that authenticated a
 * person itself) may start tasks naming the person it vouches for (POST /v1/tasks without an ID token).
 */
export const API_KEY_PERMISSIONS = ['initiator'] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

export const BUDGET_METRICS = ['usd', 'tokens', 'calls'] as const;
/** What a budget counts: US dollars, tokens (input + output), or tool calls. */
export type BudgetMetric = (typeof BUDGET_METRICS)[number];

export const BUDGET_SCOPES = ['session', 'agent', 'team', 'global', 'tag'] as const;
/** Whose spending a budget caps: one session, one agent, a team (policy group), everyone, or a label value. */
export type BudgetScope = (typeof BUDGET_SCOPES)[number];

export const BUDGET_WINDOWS = ['session', 'hour', 'day', 'week', 'month'] as const;
/** How long a budget's count runs before it starts again: the session's life or a calendar period. */
export type BudgetWindow = (typeof BUDGET_WINDOWS)[number];

/** What a usage chart plots per bucket: completed calls, tokens (input + output) and cost. */
export const USAGE_METRICS = ['calls', 'tokens', 'costUsd'] as const;
export type UsageMetric = (typeof USAGE_METRICS)[number];

/** Audit export formats: JSONL for tools, CSV for spreadsheets, OCSF (API Activity, class 6003) for a SIEM. */
export const EXPORT_FORMATS = ['jsonl', 'csv', 'ocsf'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Kinds of signed checkpoint; a `seal` vouches for one export. */
export const CHECKPOINT_KINDS = ['periodic', 'on-demand', 'purge', 'seal'] as const;

/** Every audit event type. Public API: add, never rename. */
export const AUDIT_EVENT_TYPES = [
  'call.decided',
  'call.completed',
  'approval.requested',
  'approval.decided',
  'grant.added',
  'grant.revoked',
  'budget.reserved',
  'budget.exceeded',
  'session.created',
  'session.paused',
  'session.resumed',
  'session.closed',
  'policy.changed',
  'key.added',
  'key.rotated',
  'api_key.created',
  'api_key.revoked',
  'retention.purged',
  'legal_hold.placed',
  'legal_hold.released',
  'approval.voted',
  'approval.refused',
  'approval.escalated',
  'approval.notified',
  'approval.used',
  'approval.voided',
  'budget.alert',
  'budget.released',
  'budget.raised',
  'budget.expired',
  'breaker.tripped',
  'notification.sent',
  'auth.signed_in',
  'auth.signed_out',
  /** A recorded decision the caller never received (it was answered STORE_UNAVAILABLE): not to be run. */
  'call.voided',
  /** A task started for an agent (POST /v1/tasks): its session, initiator and token id. */
  'task.started',
  /** A task token exchanged for a sub-agent's (RFC 8693): the child token id and the whole chain. */
  'task.delegated',
  /** A presented identity was refused: a forged, expired, replayed, foreign or shortened token, or a body that disagrees with its token. */
  'identity.refused',
  /** A person's roles or IdP groups changed at sign-in (read from the identity provider each time). */
  'identity.roles_changed',
] as const;

/** One audit event type. */
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** The HTTP header a task token travels in, on every call (POST /v1/calls, the LLM proxy, /mcp). */
export const TASK_TOKEN_HEADER = 'warden-task-token';

/** RFC 8693 §2.1 `grant_type` of a token exchange. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3 token type of a task token (a JWT). */
export const TASK_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt' as const;
/** Token type naming an agent as the actor of an exchange (`actor_token` is then the agent's name). */
export const AGENT_ACTOR_TYPE = 'urn:warden:params:oauth:token-type:agent';
