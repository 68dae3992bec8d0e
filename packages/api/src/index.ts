/**
 * @warden/api: the contract of Warden's HTTP API. The Zod schemas of every route's request and response,
 * the wire's vocabularies and error codes, and the types inferred from them. The server validates with
 * these schemas and generates /openapi.json from them; the SDK, the CLI and the dashboard import the
 * types. Depends on Zod only.
 */
import type { z } from 'zod';
import type {
  ApprovalListSchema,
  ApprovalProgressSchema,
  ApprovalRequirementSchema,
  ApprovalViewSchema,
  VoteSchema,
} from './approval-schemas.js';
import type {
  AuditEventSchema,
  AuditPageSchema,
  AuditRecordSchema,
  AuditVerifyResultSchema,
  CheckpointListSchema,
  SignedCheckpointSchema,
  UsageSchema,
} from './audit-schemas.js';
import type {
  AuthConfigViewSchema,
  DeviceAuthorizationSchema,
  DeviceTokenSchema,
  SignedInSchema,
  SignedInTokensSchema,
} from './auth-schemas.js';
import type {
  BudgetListSchema,
  BudgetStatusSchema,
  UsageLineSchema,
  UsageSeriesSchema,
} from './budget-schemas.js';
import type {
  BudgetRefusalSchema,
  CheckRequestSchema,
  CheckResponseSchema,
  CompleteRequestSchema,
  UsageEstimateSchema,
  VisibleToolsSchema,
} from './call-schemas.js';
import type { ErrorBodySchema } from './error-body-schema.js';
import type { GrantListSchema, GrantViewSchema } from './grant-schemas.js';
import type { ApiKeySchema, CreatedKeySchema } from './key-schemas.js';
import type {
  DiagnosticSchema,
  PolicyChangeSchema,
  PolicyInputSchema,
  PolicyValidationSchema,
  PolicyVersionListSchema,
  PolicyVersionSchema,
  ReplayReportSchema,
} from './policy-schemas.js';
import type {
  SessionDetailSchema,
  SessionListSchema,
  SessionSchema,
  SessionUsageSchema,
} from './session-schemas.js';
import type { ReadinessSchema } from './system-schemas.js';
import type { DeepReadonly, RequestOf, ResponseOf } from './wire-types.js';

export * from './approval-schemas.js';
export * from './audit-schemas.js';
export * from './auth-schemas.js';
export * from './budget-schemas.js';
export * from './call-schemas.js';
export * from './error-body-schema.js';
export * from './error-codes.js';
export * from './grant-schemas.js';
export * from './id-params.js';
export * from './key-schemas.js';
export * from './people-schemas.js';
export * from './policy-schemas.js';
export * from './route-contract.js';
export * from './session-schemas.js';
export * from './system-schemas.js';
export * from './task-schemas.js';
export * from './wire-types.js';
export * from './wire-vocabulary.js';

/** A tool call to decide, as an agent sends it to POST /v1/calls. */
export type CheckRequest = RequestOf<typeof CheckRequestSchema>;
/** What a call may consume at most, reserved in every budget that applies before it runs. */
export type UsageEstimate = DeepReadonly<z.input<typeof UsageEstimateSchema>>;
/** The decision on a call (POST /v1/calls). */
export type CheckResponse = ResponseOf<typeof CheckResponseSchema>;
/** The budget that refused a call (code BUDGET_EXCEEDED). */
export type BudgetRefusal = ResponseOf<typeof BudgetRefusalSchema>;
/** How a call ended (POST /v1/calls/:id/complete). */
export type CompleteRequest = RequestOf<typeof CompleteRequestSchema>;
/** What a call or LLM request consumed, as reported with its completion. */
export type UsageReport = RequestOf<typeof UsageSchema>;
export type VisibleTools = ResponseOf<typeof VisibleToolsSchema>;
export type Session = ResponseOf<typeof SessionSchema>;
export type SessionUsage = ResponseOf<typeof SessionUsageSchema>;
export type SessionList = ResponseOf<typeof SessionListSchema>;
export type SessionDetail = ResponseOf<typeof SessionDetailSchema>;
export type BudgetStatus = ResponseOf<typeof BudgetStatusSchema>;
export type BudgetList = ResponseOf<typeof BudgetListSchema>;
export type UsageLine = ResponseOf<typeof UsageLineSchema>;
export type UsageSeries = ResponseOf<typeof UsageSeriesSchema>;
/** An approval request as the API shows it, with its votes and progress. */
export type ApprovalView = ResponseOf<typeof ApprovalViewSchema>;
export type ApprovalList = ResponseOf<typeof ApprovalListSchema>;
export type Vote = ResponseOf<typeof VoteSchema>;
export type ApprovalRequirementView = ResponseOf<typeof ApprovalRequirementSchema>;
export type ApprovalProgress = ResponseOf<typeof ApprovalProgressSchema>;
export type GrantView = ResponseOf<typeof GrantViewSchema>;
export type GrantList = ResponseOf<typeof GrantListSchema>;
export type ApiKeyView = ResponseOf<typeof ApiKeySchema>;
export type CreatedKey = ResponseOf<typeof CreatedKeySchema>;
/** An audit event body, as the trail stores and the API serves it. */
export type AuditEventView = ResponseOf<typeof AuditEventSchema>;
export type AuditRecordView = ResponseOf<typeof AuditRecordSchema>;
export type AuditPage = ResponseOf<typeof AuditPageSchema>;
export type AuditVerifyResult = ResponseOf<typeof AuditVerifyResultSchema>;
/** A policy as sent: one YAML text, or several files. */
export type PolicyInput = RequestOf<typeof PolicyInputSchema>;
export type SignedCheckpointView = ResponseOf<typeof SignedCheckpointSchema>;
export type CheckpointList = ResponseOf<typeof CheckpointListSchema>;
export type PolicyVersion = ResponseOf<typeof PolicyVersionSchema>;
export type PolicyVersionList = ResponseOf<typeof PolicyVersionListSchema>;
export type Diagnostic = ResponseOf<typeof DiagnosticSchema>;
export type PolicyChange = ResponseOf<typeof PolicyChangeSchema>;
export type PolicyValidation = ResponseOf<typeof PolicyValidationSchema>;
export type ReplayReportView = ResponseOf<typeof ReplayReportSchema>;
export type SignedIn = ResponseOf<typeof SignedInSchema>;
export type AuthConfigView = ResponseOf<typeof AuthConfigViewSchema>;
export type DeviceAuthorization = ResponseOf<typeof DeviceAuthorizationSchema>;
export type DeviceToken = ResponseOf<typeof DeviceTokenSchema>;
export type SignedInTokens = ResponseOf<typeof SignedInTokensSchema>;
export type Readiness = ResponseOf<typeof ReadinessSchema>;
/** The body of every error response. */
export type ErrorBody = ResponseOf<typeof ErrorBodySchema>;
