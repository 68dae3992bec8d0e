import {
  ACTOR_KINDS,
  ActorSchema,
  AUDIT_EVENT_TYPES,
  AuditDecisionSchema,
  AuditEventSchema,
  type AuditEventType,
  AuditOutcomeSchema,
  CallIdentitySchema,
  IDENTITY_METHODS,
  IdentityProofSchema,
  RedactionRecordSchema,
  UsageSchema,
} from '@warden/api';
import type { z } from 'zod';

/**
 * The audit event: one schema for every kind of thing Warden records. It is the single source of truth
 * for what an event may hold; exports are parsed back through it, and the query columns of both store
 * dialects are derived from its fields.
 */

/** Every event type (a wire word: see @warden/api). Public API: add, never rename. */
/** What a call consumed and how it ended are sent by agents (POST /v1/calls/:id/complete): see @warden/api. */
/**
 * The event body is what the API serves (/v1/audit/events, exports, live streams): its schema is part of
 * the contract in @warden/api, with the actor, decision and redaction parts.
 */
export {
  ACTOR_KINDS,
  ActorSchema,
  AUDIT_EVENT_TYPES,
  AuditDecisionSchema,
  AuditEventSchema,
  type AuditEventType,
  AuditOutcomeSchema,
  CallIdentitySchema,
  IDENTITY_METHODS,
  IdentityProofSchema,
  RedactionRecordSchema,
  UsageSchema,
};

/** One audit event body. */
export type AuditEvent = z.infer<typeof AuditEventSchema>;
/** Who did something. */
export type Actor = z.infer<typeof ActorSchema>;
/** How one identity in an event was verified (api key, OIDC issuer and subject, task token, or claimed). */
export type IdentityProof = z.infer<typeof IdentityProofSchema>;
/** Who stands behind a call and how each was verified: agent, initiator, delegation chain. */
export type CallIdentity = z.infer<typeof CallIdentitySchema>;
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
