import type { LlmProvider } from './llm-endpoints.js';

/** An error as the proxy answers it, before it is put in the provider's shape. */
export interface ProxyError {
  readonly status: number;
  /** A Warden code (or a proxy code such as LLM_NOT_CONFIGURED): what a program branches on. */
  readonly code: string;
  readonly message: string;
  /** Facts about a refused request (call id, session, rule, reasons, budget), beside the provider's fields. */
  readonly warden?: Readonly<Record<string, unknown>>;
  /** False: the official clients must not retry (they obey `x-should-retry`); a refusal stands. */
  readonly retry?: boolean;
}

/** A failure the proxy answers itself (a refusal, a missing or unreachable upstream). */
export class LlmProxyError extends Error {
  readonly detail: ProxyError;

  constructor(detail: ProxyError) {
    super(detail.message);
    this.name = 'LlmProxyError';
    this.detail = detail;
  }
}

/** OpenAI's `error.type` for a status; a budget refusal reads as the quota error OpenAI clients know. */
function openAiType(status: number, code: string): string {
  if (status === 429) return code === 'BUDGET_EXCEEDED' ? 'insufficient_quota' : 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return OPENAI_TYPES[status] ?? 'invalid_request_error';
}

const OPENAI_TYPES: Readonly<Record<number, string>> = {
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'conflict_error',
};

/** Anthropic's documented `error.type` values; anything else is an invalid request or an API error. */
function anthropicType(status: number): string {
  if (status >= 500) return 'api_error';
  return ANTHROPIC_TYPES[status] ?? 'invalid_request_error';
}

const ANTHROPIC_TYPES: Readonly<Record<number, string>> = {
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
};

/** The google.rpc.Code name Google's clients read for an HTTP status. */
function googleStatus(status: number): string {
  if (status >= 500)
    return status === 504 ? 'DEADLINE_EXCEEDED' : status === 500 ? 'INTERNAL' : 'UNAVAILABLE';
  return GOOGLE_STATUSES[status] ?? 'INVALID_ARGUMENT';
}

const GOOGLE_STATUSES: Readonly<Record<number, string>> = {
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
};

/**
 * The error body a provider's own clients parse: OpenAI's `{error: {message, type, param, code}}`,
 * Anthropic's `{type: 'error', error: {type, message, details: {error_code}}}` or Google's
 * `{error: {code, message, status, details: [ErrorInfo]}}` (the Warden code is the ErrorInfo's reason,
 * in domain `warden`). The Warden code is the
 * code those clients expose (`err.code`, `err.errorCode`) and starts the message, so a person reading
 * an agent's log sees who refused and why; the facts of a refusal ride along under `warden`.
 */
export function providerErrorBody(provider: LlmProvider, e: ProxyError): Record<string, unknown> {
  const message = `Warden ${e.code}: ${e.message}`;
  const warden = e.warden ? { warden: e.warden } : {};
  if (provider === 'openai') {
    return { error: { message, type: openAiType(e.status, e.code), param: null, code: e.code, ...warden } };
  }
  if (provider === 'gemini') {
    const info = { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: e.code, domain: 'warden' };
    return {
      error: { code: e.status, message, status: googleStatus(e.status), details: [info], ...warden },
    };
  }
  return {
    type: 'error',
    error: { type: anthropicType(e.status), message, details: { error_code: e.code, ...warden } },
  };
}
