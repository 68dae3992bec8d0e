import { z } from 'zod';
import { AUDIT_EVENT_TYPES, CHECKPOINT_KINDS, EFFECTS, EXPORT_FORMATS } from './wire-vocabulary.js';

/** Schemas of the audit routes (/v1/audit/…) and of the parts of the trail agents send. */

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

/**
 * How an identity named in an event was established. `api_key`: the key that authenticated the request
 * (`keyId`). `oidc`: an ID token or sign-in verified against the identity provider's keys (`issuer`,
 * `subject`). `task_token`: a Warden task token (`tokenId`, the token's `jti`; `taskId`) whose claims name
 * it. `system`: Warden itself. `claimed`: a name the caller wrote in the request and nothing verified.
 */
export const IDENTITY_METHODS = ['api_key', 'oidc', 'task_token', 'system', 'claimed'] as const;

/** One identity's proof, as recorded. Only the fields of its method are set. */
export const IdentityProofSchema = z.strictObject({
  method: z.enum(IDENTITY_METHODS),
  keyId: z.string().min(1).max(500).optional(),
  issuer: z.string().min(1).max(2_000).optional(),
  subject: z.string().min(1).max(500).optional(),
  tokenId: z.string().min(1).max(500).optional(),
  taskId: z.string().min(1).max(500).optional(),
});

/**
 * Who stands behind a call, and how each was verified (on `call.decided`, `task.*`, `identity.refused`):
 * the agent (its key), the initiator (the person or trusted backend that started the task: `oidc` with
 * issuer and subject, `api_key` for a service key with the initiator permission, or `claimed` for a bare
 * `triggeredBy`), and each agent of the delegation chain (outermost first, as `delegationChain`).
 */
export const CallIdentitySchema = z.strictObject({
  agent: IdentityProofSchema,
  initiator: IdentityProofSchema.extend({ name: z.string().max(500).optional() }).optional(),
  chain: z.array(IdentityProofSchema.extend({ agent: z.string().min(1).max(500) })).optional(),
  /** The task token the call came with (its `jti`) and its task, when it came with one. */
  taskToken: z
    .strictObject({ tokenId: z.string().min(1).max(500), taskId: z.string().min(1).max(500) })
    .optional(),
});

/** Add, never rename: `service` is newer, so a service key's events before it read `system`. */
export const ACTOR_KINDS = ['agent', 'human', 'system', 'service'] as const;

const id = z.string().min(1).max(500);

/**
 * Who did it: the agent for calls, the human for approvals and changes, the service for a service key,
 * and `system` for Warden itself alone. `keyId` names the API key that acted and is on every event made
 * with a key (events from before it have none, and still verify); `system` never has one.
 */
export const ActorSchema = z
  .strictObject({
    kind: z.enum(ACTOR_KINDS),
    id,
    keyId: id.optional(),
    /** A person signed in through the identity provider (OIDC): its issuer and subject, verified. */
    issuer: z.string().min(1).max(2_000).optional(),
    subject: id.optional(),
  })
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
  /** How the agent, the initiator and each delegate were verified (see CallIdentitySchema). */
  identity: CallIdentitySchema.optional(),
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

/** An audit record: the chained event with its sequence number and hashes. */
export const AuditRecordSchema = z
  .object({
    seq: z.number().int(),
    prev: z.string(),
    hash: z.string(),
    event: AuditEventSchema,
  })
  .meta({ id: 'AuditRecord' });

/** Filters for an audit query; every one narrows. The same schema backs the CLI, the API and the store. */
export const AuditQuerySchema = z.strictObject({
  from: z.iso.datetime({ offset: true }).optional().meta({ description: 'Events at or after this time.' }),
  to: z.iso.datetime({ offset: true }).optional().meta({ description: 'Events before this time.' }),
  type: z.enum(AUDIT_EVENT_TYPES).optional(),
  agent: z.string().min(1).optional(),
  session: z.string().min(1).optional(),
  tool: z.string().min(1).optional(),
  callId: z.string().min(1).optional(),
  decision: z.enum(EFFECTS).optional().meta({ description: 'The effect of call.decided events.' }),
  rule: z.string().min(1).optional().meta({ description: 'The deciding rule id.' }),
  approver: z.string().min(1).optional().meta({ description: 'A human or agent among the approvers.' }),
  triggeredBy: z.string().min(1).optional(),
  actor: z.string().min(1).optional().meta({ description: 'Who did it: agent, human, service or system.' }),
  eventId: z.string().min(1).optional().meta({ description: "One event, by its id (the body's `id`)." }),
  order: z
    .enum(['asc', 'desc'])
    .optional()
    .meta({ description: 'Oldest first (chain order, the default) or newest first.' }),
  limit: z.number().int().min(1).max(10_000).default(100),
  cursor: z.string().optional().meta({ description: 'The nextCursor of the previous page.' }),
});

/** The audit query as a query string: the same filters, with the page size coerced from text. */
export const AuditQueryParamsSchema = AuditQuerySchema.extend({
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});

/** A page of audit records; pass `nextCursor` back to continue. */
export const AuditPageSchema = z.object({
  records: z.array(AuditRecordSchema),
  nextCursor: z.string().nullable(),
});

/** `/v1/audit/events/:seq`. */
export const AuditSeqParamsSchema = z.strictObject({ seq: z.coerce.number().int().min(1) });

/** What an export may ask for. */
export const AuditExportQuerySchema = z.strictObject({
  format: z.enum(EXPORT_FORMATS).default('jsonl'),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
});

export const AuditVerifyQuerySchema = z.strictObject({ deep: z.enum(['true', 'false']).optional() });

/** The first thing wrong with a chain. */
export const ChainProblemSchema = z.object({
  code: z.string(),
  seq: z.number().int(),
  message: z.string(),
  column: z.string().optional().meta({ description: 'COLUMN_MISMATCH only: the query column that differs.' }),
});

/** A verification's answer: ok, how much was checked and, when not ok, the first problem. */
export const AuditVerifyResultSchema = z.object({
  ok: z.boolean(),
  checked: z.number(),
  firstSeq: z.number().int().nullable(),
  lastSeq: z.number().int().nullable(),
  headHash: z.string().nullable(),
  checkpointsChecked: z.number(),
  lastCheckpointSeq: z.number().int().nullable(),
  unsignedTail: z.number().meta({
    description: 'Events after the last signed checkpoint: intact as far as the chain shows, not yet signed.',
  }),
  problem: ChainProblemSchema.optional(),
  startPrev: z.string().optional(),
  purgedThrough: z.array(z.number().int()).optional(),
});

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

/** The signed statement. A `seal` vouches for an export: it also names where the export starts. */
export const CheckpointBodySchema = z.strictObject({
  kind: z.enum(CHECKPOINT_KINDS),
  seq: z.number().int().nonnegative(),
  hash: hex64,
  ts: z.iso.datetime(),
  /** Digest of the previous checkpoint in the chain of checkpoints; null for the first and for seals. */
  prev: hex64.nullable(),
  keyId: z.string().min(1),
  /** Seals only: the first exported sequence number and the hash before it. */
  fromSeq: z.number().int().positive().optional(),
  fromPrev: hex64.optional(),
});

/** A checkpoint with its base64 Ed25519 signature over the canonical JSON of the body. */
export const SignedCheckpointSchema = CheckpointBodySchema.extend({ signature: z.string().min(1) });

export const CheckpointRangeQuerySchema = z.strictObject({
  fromSeq: z.coerce.number().int().min(0).optional(),
  toSeq: z.coerce.number().int().min(0).optional(),
});

export const CheckpointListSchema = z.object({ checkpoints: z.array(SignedCheckpointSchema) });

export const PublicKeyListSchema = z.object({
  keys: z.array(z.object({ keyId: z.string(), pem: z.string() })),
});

/** A validated audit query. */
export type AuditQuery = z.output<typeof AuditQuerySchema>;
/** A query as callers write it (limit optional). */
export type AuditQueryInput = z.input<typeof AuditQuerySchema>;
export type CheckpointBody = z.infer<typeof CheckpointBodySchema>;
export type SignedCheckpoint = z.infer<typeof SignedCheckpointSchema>;
