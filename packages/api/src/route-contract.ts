import type { z } from 'zod';
import {
  ApprovalListQuerySchema,
  ApprovalListSchema,
  ApprovalViewSchema,
  ApprovalWaitQuerySchema,
  LinkTokenParamsSchema,
  OverrideRequestSchema,
  VoteRequestSchema,
} from './approval-schemas.js';
import {
  AuditExportQuerySchema,
  AuditPageSchema,
  AuditQueryParamsSchema,
  AuditRecordSchema,
  AuditSeqParamsSchema,
  AuditVerifyQuerySchema,
  AuditVerifyResultSchema,
  CheckpointListSchema,
  CheckpointRangeQuerySchema,
  PublicKeyListSchema,
  SignedCheckpointSchema,
} from './audit-schemas.js';
import {
  AuthConfigViewSchema,
  DeviceAuthorizationSchema,
  DeviceTokenRequestSchema,
  DeviceTokenSchema,
  OidcCallbackQuerySchema,
  OidcLoginQuerySchema,
  RefreshRequestSchema,
  SignedInSchema,
  SignedInTokensSchema,
  SignInRequestSchema,
} from './auth-schemas.js';
import {
  BudgetListSchema,
  BudgetQuerySchema,
  UsageQuerySchema,
  UsageSeriesSchema,
} from './budget-schemas.js';
import {
  CheckRequestSchema,
  CheckResponseSchema,
  CompleteRequestSchema,
  CompleteResponseSchema,
  VisibleToolsRequestSchema,
  VisibleToolsSchema,
} from './call-schemas.js';
import {
  GrantListQuerySchema,
  GrantListSchema,
  GrantRequestSchema,
  GrantViewSchema,
  RevokeGrantRequestSchema,
} from './grant-schemas.js';
import { IdParamsSchema } from './id-params.js';
import {
  ApiKeyListSchema,
  ApiKeySchema,
  CreatedKeySchema,
  CreateKeySchema,
  RevokeKeyRequestSchema,
} from './key-schemas.js';
import { PersonViewSchema, RevokePersonRequestSchema } from './people-schemas.js';
import {
  PolicyChangeSchema,
  PolicyInputSchema,
  PolicyValidationSchema,
  PolicyVersionListSchema,
  PolicyVersionSchema,
  PolicyVersionsQuerySchema,
  ReplayReportSchema,
  ReplayRequestSchema,
} from './policy-schemas.js';
import {
  ReasonRequestSchema,
  ResumeRequestSchema,
  SessionDetailSchema,
  SessionListQuerySchema,
  SessionListSchema,
  SessionSchema,
} from './session-schemas.js';
import { EventStreamQuerySchema, HealthSchema, ReadinessSchema } from './system-schemas.js';
import {
  StartedTaskSchema,
  StartTaskRequestSchema,
  TaskJwksSchema,
  TokenExchangeRequestSchema,
  TokenExchangeResponseSchema,
} from './task-schemas.js';

/** A route's answer on success: a JSON body, a streamed media type, or nothing (204). */
export type ResponseContract =
  | { readonly status: number; readonly schema: z.ZodType }
  | { readonly status: number; readonly stream: string }
  | { readonly status: number };

/** One route of the HTTP API as a client sees it: where it is, what it takes, what it answers. */
export interface RouteContract {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path syntax `/v1/calls/:id/complete`. */
  readonly url: string;
  readonly body?: z.ZodType;
  readonly query?: z.ZodType;
  readonly params?: z.ZodType;
  readonly response: ResponseContract;
}

const json = <S extends z.ZodType>(schema: S, status = 200) => ({ status, schema }) as const;
const stream = (media: string) => ({ status: 200, stream: media }) as const;

/**
 * Every route of the HTTP API with its request and response schemas. The server's route table must match
 * it route for route, schema for schema (a test checks), and /openapi.json is generated from the same
 * schemas; clients import the schemas and the types inferred from them. The LLM proxy and /mcp speak
 * their providers' and MCP's wire formats and are not in it.
 */
export const API_ROUTES = [
  { method: 'GET', url: '/healthz', response: json(HealthSchema) },
  { method: 'GET', url: '/readyz', response: json(ReadinessSchema) },
  { method: 'GET', url: '/metrics', response: stream('text/plain; version=0.0.4') },
  { method: 'POST', url: '/v1/auth/session', body: SignInRequestSchema, response: json(SignedInSchema) },
  { method: 'GET', url: '/v1/auth/session', response: json(SignedInSchema) },
  { method: 'DELETE', url: '/v1/auth/session', response: { status: 204 } },
  { method: 'GET', url: '/v1/auth/config', response: json(AuthConfigViewSchema) },
  { method: 'GET', url: '/v1/auth/oidc/login', query: OidcLoginQuerySchema, response: { status: 302 } },
  { method: 'GET', url: '/v1/auth/oidc/callback', query: OidcCallbackQuerySchema, response: { status: 302 } },
  { method: 'POST', url: '/v1/auth/device', response: json(DeviceAuthorizationSchema) },
  {
    method: 'POST',
    url: '/v1/auth/device/token',
    body: DeviceTokenRequestSchema,
    response: json(DeviceTokenSchema),
  },
  {
    method: 'POST',
    url: '/v1/auth/refresh',
    body: RefreshRequestSchema,
    response: json(SignedInTokensSchema),
  },
  { method: 'POST', url: '/v1/calls', body: CheckRequestSchema, response: json(CheckResponseSchema) },
  {
    method: 'POST',
    url: '/v1/tools/visible',
    body: VisibleToolsRequestSchema,
    response: json(VisibleToolsSchema),
  },
  {
    method: 'POST',
    url: '/v1/calls/:id/complete',
    params: IdParamsSchema,
    body: CompleteRequestSchema,
    response: json(CompleteResponseSchema),
  },
  { method: 'GET', url: '/v1/sessions', query: SessionListQuerySchema, response: json(SessionListSchema) },
  { method: 'GET', url: '/v1/sessions/:id', params: IdParamsSchema, response: json(SessionDetailSchema) },
  {
    method: 'POST',
    url: '/v1/sessions/:id/pause',
    params: IdParamsSchema,
    body: ReasonRequestSchema,
    response: json(SessionSchema),
  },
  {
    method: 'POST',
    url: '/v1/sessions/:id/resume',
    params: IdParamsSchema,
    body: ResumeRequestSchema,
    response: json(SessionSchema),
  },
  { method: 'GET', url: '/v1/budgets', query: BudgetQuerySchema, response: json(BudgetListSchema) },
  { method: 'GET', url: '/v1/usage', query: UsageQuerySchema, response: json(UsageSeriesSchema) },
  { method: 'GET', url: '/v1/approvals', query: ApprovalListQuerySchema, response: json(ApprovalListSchema) },
  { method: 'GET', url: '/v1/approvals/:id', params: IdParamsSchema, response: json(ApprovalViewSchema) },
  {
    method: 'GET',
    url: '/v1/approvals/:id/wait',
    params: IdParamsSchema,
    query: ApprovalWaitQuerySchema,
    response: json(ApprovalViewSchema),
  },
  ...(['approve', 'deny'] as const).map(
    (vote) =>
      ({
        method: 'POST',
        url: `/v1/approvals/:id/${vote}`,
        params: IdParamsSchema,
        body: VoteRequestSchema,
        response: json(ApprovalViewSchema),
      }) as const,
  ),
  {
    method: 'POST',
    url: '/v1/approvals/:id/override',
    params: IdParamsSchema,
    body: OverrideRequestSchema,
    response: json(ApprovalViewSchema),
  },
  {
    method: 'POST',
    url: '/v1/approvals/:id/cancel',
    params: IdParamsSchema,
    body: VoteRequestSchema,
    response: json(ApprovalViewSchema),
  },
  { method: 'GET', url: '/approve/:token', params: LinkTokenParamsSchema, response: stream('text/html') },
  {
    method: 'POST',
    url: '/v1/approvals/links/:token',
    params: LinkTokenParamsSchema,
    body: VoteRequestSchema,
    response: json(ApprovalViewSchema),
  },
  { method: 'GET', url: '/v1/grants', query: GrantListQuerySchema, response: json(GrantListSchema) },
  { method: 'POST', url: '/v1/grants', body: GrantRequestSchema, response: json(GrantViewSchema, 201) },
  {
    method: 'POST',
    url: '/v1/grants/:id/revoke',
    params: IdParamsSchema,
    body: RevokeGrantRequestSchema,
    response: json(GrantViewSchema),
  },
  { method: 'GET', url: '/v1/audit/events', query: AuditQueryParamsSchema, response: json(AuditPageSchema) },
  {
    method: 'GET',
    url: '/v1/audit/events/:seq',
    params: AuditSeqParamsSchema,
    response: json(AuditRecordSchema),
  },
  {
    method: 'GET',
    url: '/v1/audit/export',
    query: AuditExportQuerySchema,
    response: stream('application/x-ndjson'),
  },
  {
    method: 'GET',
    url: '/v1/audit/verify',
    query: AuditVerifyQuerySchema,
    response: json(AuditVerifyResultSchema),
  },
  {
    method: 'GET',
    url: '/v1/audit/checkpoints',
    query: CheckpointRangeQuerySchema,
    response: json(CheckpointListSchema),
  },
  { method: 'POST', url: '/v1/audit/checkpoints', response: json(SignedCheckpointSchema, 201) },
  { method: 'GET', url: '/v1/audit/public-keys', response: json(PublicKeyListSchema) },
  { method: 'GET', url: '/v1/policy', response: json(PolicyVersionSchema) },
  { method: 'PUT', url: '/v1/policy', body: PolicyInputSchema, response: json(PolicyChangeSchema) },
  {
    method: 'POST',
    url: '/v1/policy/validate',
    body: PolicyInputSchema,
    response: json(PolicyValidationSchema),
  },
  { method: 'POST', url: '/v1/policy/replay', body: ReplayRequestSchema, response: json(ReplayReportSchema) },
  {
    method: 'GET',
    url: '/v1/policy/versions',
    query: PolicyVersionsQuerySchema,
    response: json(PolicyVersionListSchema),
  },
  { method: 'POST', url: '/v1/keys', body: CreateKeySchema, response: json(CreatedKeySchema, 201) },
  { method: 'GET', url: '/v1/keys', response: json(ApiKeyListSchema) },
  {
    method: 'POST',
    url: '/v1/keys/:id/revoke',
    params: IdParamsSchema,
    body: RevokeKeyRequestSchema,
    response: json(ApiKeySchema),
  },
  {
    method: 'POST',
    url: '/v1/people/:id/revoke',
    params: IdParamsSchema,
    body: RevokePersonRequestSchema,
    response: json(PersonViewSchema),
  },
  { method: 'GET', url: '/v1/events', query: EventStreamQuerySchema, response: stream('text/event-stream') },
  { method: 'POST', url: '/v1/tasks', body: StartTaskRequestSchema, response: json(StartedTaskSchema, 201) },
  {
    method: 'POST',
    url: '/v1/tasks/token',
    body: TokenExchangeRequestSchema,
    response: json(TokenExchangeResponseSchema),
  },
  { method: 'GET', url: '/v1/tasks/jwks', response: json(TaskJwksSchema) },
] as const satisfies readonly RouteContract[];
