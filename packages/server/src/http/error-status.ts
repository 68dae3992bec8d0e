import { type ErrorCode, isWardenError, WardenError } from '@warden/core';

/** The one place error codes become HTTP statuses. A code missing here is a 500, which a test forbids. */
export const HTTP_STATUS: Readonly<Partial<Record<ErrorCode, number>>> = {
  REQUEST_INVALID: 400,
  CALL_INVALID: 400,
  QUERY_INVALID: 400,
  POLICY_INVALID: 400,
  USAGE: 400,
  EXPORT_INVALID: 400,
  CONFIG_INVALID: 400,
  LINK_INVALID: 400,
  SLACK_SIGNATURE_INVALID: 401,
  SLACK_USER_UNMAPPED: 403,
  SLACK_FOREIGN_USER: 403,
  SLACK_SIGN_IN_STALE: 403,
  SLACK_EMAIL_AMBIGUOUS: 403,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  CSRF_REJECTED: 403,
  ID_TOKEN_INVALID: 401,
  SSO_REQUIRED: 403,
  SSO_DENIED: 403,
  IDP_UNAVAILABLE: 502,
  AGENT_MISMATCH: 403,
  APPROVAL_SELF_APPROVAL: 403,
  APPROVAL_NOT_ELIGIBLE: 403,
  APPROVAL_REASON_REQUIRED: 400,
  GRANT_INVALID: 400,
  APPROVAL_NOT_FOUND: 404,
  GRANT_NOT_FOUND: 404,
  APPROVAL_DECIDED: 409,
  APPROVAL_ALREADY_VOTED: 409,
  APPROVAL_CONFLICT: 409,
  APPROVAL_MISMATCH: 409,
  NOT_FOUND: 404,
  CALL_NOT_FOUND: 404,
  SESSION_NOT_FOUND: 404,
  KEY_NOT_FOUND: 404,
  EVENT_NOT_FOUND: 404,
  POLICY_NOT_FOUND: 404,
  POLICY_CONFLICT: 409,
  CALL_NOT_RUNNABLE: 409,
  CALL_ALREADY_COMPLETED: 409,
  CALL_VOIDED: 409,
  SESSION_STATE: 409,
  SESSION_PAUSED: 409,
  SESSION_CLOSED: 409,
  KEY_REVOKED: 409,
  KEYS_EXIST: 409,
  LEGAL_HOLD_ACTIVE: 409,
  CALL_BLOCKED: 403,
  APPROVAL_TIMEOUT: 408,
  APPROVAL_DENIED: 403,
  CALL_ABORTED: 409,
  MCP_UPSTREAM_UNAVAILABLE: 502,
  MCP_TOOL_UNKNOWN: 404,
  WARDEN_UNREACHABLE: 502,
  BUDGET_EXCEEDED: 402,
  BUDGET_CONFLICT: 409,
  BUDGET_NOT_FOUND: 404,
  BUDGET_SHARED: 409,
  RUNAWAY_DETECTED: 409,
  PRICE_UNKNOWN: 400,
  ESTIMATE_UNBOUNDED: 400,
  LLM_NOT_CONFIGURED: 404,
  LLM_UPSTREAM_UNAVAILABLE: 502,
  CHAIN_BROKEN: 409,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  TASK_TOKEN_INVALID: 401,
  TASK_TOKEN_MISMATCH: 409,
  IDENTITY_REQUIRED: 403,
  INTERNAL: 500,
  KEYS_INVALID: 500,
  STORE_INVALID: 500,
  STORE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
};

/** The JSON body of every error response. */
export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly details: Record<string, unknown>;
  };
}

/** A status and body for any thrown value; never a stack trace, whatever was thrown. */
export function errorResponse(err: unknown): { status: number; body: ErrorBody } {
  let werr = toWardenError(err);
  // An INTERNAL error's text comes from deep inside (a driver message, a path): logged, never answered.
  if (werr.code === 'INTERNAL') {
    werr = new WardenError('INTERNAL', 'an unexpected error occurred; the server log has the details');
  }
  const status = HTTP_STATUS[werr.code] ?? 500;
  return {
    status,
    body: { error: { code: werr.code, message: werr.message, details: { ...werr.details } } },
  };
}

/** Fastify's own errors (bad JSON, body too large, wrong content type) as Warden errors. */
function toWardenError(err: unknown): WardenError {
  if (isWardenError(err)) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  switch (e?.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new WardenError('REQUEST_INVALID', `the body is not valid JSON: ${e.message}`, {
        problems: ['body: not valid JSON'],
      });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new WardenError('BODY_TOO_LARGE', 'the request body is too large', {});
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new WardenError(
        'UNSUPPORTED_MEDIA_TYPE',
        'send the body as JSON with Content-Type: application/json',
      );
  }
  if (e?.statusCode === 413) return new WardenError('BODY_TOO_LARGE', 'the request body is too large');
  if (e?.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return new WardenError('REQUEST_INVALID', e.message ?? 'the request is invalid');
  }
  // Never echo an unexpected error's text: it can carry internals. The server logs it in full.
  return new WardenError('INTERNAL', 'an unexpected error occurred; the server log has the details');
}
