import { z } from 'zod';
import { EFFECTS } from '../policy/policy-schema.js';

/**
 * The audit event: one schema for every kind of thing Warden records. It is the single source of truth
 * for what an event may hold; exports are parsed back through it, and the query columns of both store
 * dialects are derived from its fields.
 */

/** Every event type. Public API: add, never rename. */
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
] as const;

/** One audit event type. */
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Add, never rename: `service` is newer, so a service key's events before it read `system`. */
export const ACTOR_KINDS = ['agent', 'human', 'system', 'service'] as const;

const id = z.string().min(1).max(500);

/**
 * Who did it: the agent for calls, the human for approvals and changes, the service for a service key,
 * and `system` for Warden itself alone. `keyId` names the API key that acted and is on every event made
 * with a key (events from before it have none, and still verify); `system` never has one.
 */
export const ActorSchema = z
  .strictObject({ kind: z.enum(ACTOR_KINDS), id, keyId: id.optional() })
  .refine((a) => a.kind !== 'system' || a.keyId === undefined, {
    message: 'a system actor is Warden itself and acts with no API key',
    path: ['keyId'],
  });

/** The decision part of a `call.decided` event. */
export const AuditDecisionSchema = z.strictObject({
  effect: z.enum(EFFECTS),
  policyEffect: z.enum(EFFECTS),
  mode: z.enum(['enforce', 'monitor']),
  ruleId: z.string().nullable(),
  matchedRuleIds: z.array(z.string()),
  reasons: z.array(z.string()),
  /** A stable code when the engine decided without the policy (e.g. SESSION_PAUSED, STORE_UNAVAILABLE). */
  code: z.string().optional(),
  /** The task-scoped grant that lifted the default block, when one did. */
  grantId: z.string().optional(),
  /** The approval request a review opened, or the approved one this call redeemed. */
  approvalId: z.string().optional(),
  /** The budget reservation an allowed call holds until it completes. */
  reservationId: z.string().optional(),
  /** `proxy`: an LLM request the metering proxy forwards and settles itself; its agent cannot complete it. */
  meteredBy: z.literal('proxy').optional(),
});

const count = z.number().nonnegative().max(1e12);

/**
 * What a call or an LLM request consumed, as reported with its completion. Cost is computed from the
 * price table when a model is named and no cost is given; `priceVersion` says which table priced it.
 */
export const UsageSchema = z.strictObject({
  model: z.string().min(1).max(200).optional(),
  inputTokens: count.optional(),
  outputTokens: count.optional(),
  /** Input tokens served from the provider's prompt cache (part of inputTokens, billed at the cached rate). */
  cachedTokens: count.optional(),
  toolCalls: count.optional(),
  computeSeconds: count.optional(),
  costUsd: count.optional(),
  priceVersion: z.string().max(100).optional(),
});

/** The result part of a `call.completed` event; result/error are redacted and capped. */
export const AuditOutcomeSchema = z.strictObject({
  status: z.enum(['ok', 'error']),
  result: z.unknown().optional(),
  error: z.string().optional(),
  durationMs: z.number().nonnegative().optional(),
  usage: UsageSchema.optional(),
});

/** A secret that was replaced before storage, and where. */
export const RedactionRecordSchema = z.strictObject({ path: z.string(), kind: z.string() });

/** The hashed body of an event. `seq`, `prev` and `hash` live beside it, in the chain. */
export const AuditEventSchema = z.strictObject({
  id,
  ts: z.iso.datetime(),
  type: z.enum(AUDIT_EVENT_TYPES),
  actor: ActorSchema,
  instance: z.string().optional(),
  session: id.optional(),
  agent: id.optional(),
  tool: id.optional(),
  callId: id.optional(),
  target: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  triggeredBy: id.optional(),
  delegationChain: z.array(z.string()).optional(),
  args: z.unknown().optional(),
  /** HMAC-SHA256 of the unredacted arguments: binds an approval to the exact call without storing it. */
  argsHmac: z.string().optional(),
  decision: AuditDecisionSchema.optional(),
  outcome: AuditOutcomeSchema.optional(),
  approvers: z.array(z.string()).optional(),
  policyVersion: z.string().optional(),
  redactions: z.array(RedactionRecordSchema).optional(),
  /** Set when a value was capped, cut, or had invalid text replaced (see redaction VALUE_FLAGS). */
  flags: z.array(z.string()).optional(),
  /** Type-specific details (old/new policy versions, key ids, purge ranges). */
  data: z.record(z.string(), z.unknown()).optional(),
});

/** One audit event body. */
export type AuditEvent = z.infer<typeof AuditEventSchema>;
/** Who did something. */
export type Actor = z.infer<typeof ActorSchema>;
/** Usage reported with a completion. */
export type Usage = z.infer<typeof UsageSchema>;

/** An event in the chain: its position, the hash before it and its own hash. */
export interface AuditRecord {
  readonly seq: number;
  readonly prev: string;
  readonly hash: string;
  readonly event: AuditEvent;
}

/** A chained event as stored: the canonical JSON text exactly as it was hashed. */
export interface ChainedRow {
  readonly seq: number;
  readonly prev: string;
  readonly hash: string;
  readonly body: string;
}
