/**
 * The parts of the API's answers the dashboard reads. They mirror the server's Zod schemas (see
 * /openapi.json); the browser tests drive the real server, so a drift shows up there.
 */
export type Role = 'agent' | 'approver' | 'admin' | 'auditor';

export interface SignedIn {
  readonly principal: { id: string; kind: string; role: Role; keyId: string; expiresAt: string | null };
  readonly csrfToken: string | null;
  readonly expiresAt: string | null;
}

export interface Vote {
  readonly principal: string;
  readonly kind: string;
  readonly role: string;
  readonly vote: 'approve' | 'deny';
  readonly reason?: string;
  readonly ts: string;
  readonly via?: string;
}

export interface Progress {
  readonly approvals: number;
  readonly quorum: number;
  readonly missingGroups: string[];
  readonly denials: number;
  readonly denyThreshold: number;
  readonly met: boolean;
}

export interface Approval {
  readonly id: string;
  readonly callId: string;
  readonly status: 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled' | 'used' | 'voided';
  readonly agent: string;
  readonly session: string;
  readonly tool: string;
  readonly args: unknown;
  readonly argsFlags?: string[];
  readonly target: string | null;
  readonly ruleId: string | null;
  readonly policyVersion: string;
  readonly reasons: string[];
  readonly triggeredBy: string | null;
  readonly delegationChain: string[];
  readonly requireReason: boolean;
  readonly onTimeout: 'block' | 'allow';
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly escalated: boolean;
  readonly votes: Vote[];
  readonly progress: Progress[];
  readonly decidedAt: string | null;
  readonly decidedBy: string | null;
  readonly outcomeReason: string | null;
  readonly override: boolean;
  readonly usedAt: string | null;
}

export interface Session {
  readonly id: string;
  readonly agent: string;
  readonly state: 'active' | 'paused' | 'closed';
  readonly stateReason: string | null;
  readonly triggeredBy: string | null;
  readonly delegationChain: string[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface BudgetStatus {
  readonly key: string;
  readonly budgetId: string;
  readonly scope: string;
  readonly scopeKey: string;
  readonly metric: string;
  readonly window: string;
  readonly windowStart: string;
  readonly windowEnd: string | null;
  readonly limit: number;
  readonly used: number;
  readonly reserved: number;
  readonly remaining: number;
  readonly ratio: number;
}

export interface SessionDetail {
  readonly session: Session;
  readonly usage: {
    calls: { allow: number; review: number; block: number };
    completed: number;
    errors: number;
    inputTokens: number;
    outputTokens: number;
    costUsd: number;
  };
  readonly budgets: BudgetStatus[];
}

/** An audit event: the fields the explorer shows; everything else is in the raw JSON. */
export interface AuditEvent {
  readonly id: string;
  readonly ts: string;
  readonly type: string;
  /** `keyId`: the API key that acted (events from before it was recorded have none; Warden's never do). */
  readonly actor: { kind: string; id: string; keyId?: string };
  readonly agent?: string;
  readonly session?: string;
  readonly tool?: string;
  readonly callId?: string;
  readonly triggeredBy?: string;
  readonly decision?: { effect: string; ruleId?: string | null; reasons?: string[]; code?: string };
  readonly outcome?: { status: string; durationMs?: number; error?: string };
  readonly data?: Record<string, unknown>;
  readonly [more: string]: unknown;
}

export interface AuditRecord {
  readonly seq: number;
  readonly hash: string;
  readonly prev: string;
  readonly event: AuditEvent;
}

export interface UsageLine {
  readonly key: string;
  readonly calls: number[];
  readonly tokens: number[];
  readonly costUsd: number[];
  readonly total: { calls: number; tokens: number; costUsd: number };
}

export interface UsageSeries {
  readonly from: string;
  readonly to: string;
  readonly bucket: 'hour' | 'day';
  readonly buckets: string[];
  readonly lines: UsageLine[];
  readonly truncated: boolean;
}

export interface PolicyVersion {
  readonly version: string;
  readonly name: string;
  readonly mode: 'enforce' | 'monitor';
  readonly sources: { path: string; text: string }[];
  readonly createdAt: string;
  readonly createdBy: string;
}

export interface Diagnostic {
  readonly severity: string;
  readonly code: string;
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
}
