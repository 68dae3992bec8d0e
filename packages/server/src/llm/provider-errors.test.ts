import { describe, expect, it } from 'vitest';
import { providerErrorBody } from './provider-errors.js';

describe('providerErrorBody', () => {
  it('writes OpenAI’s shape, a budget refusal as insufficient_quota', () => {
    expect(providerErrorBody('openai', { status: 429, code: 'BUDGET_EXCEEDED', message: 'over' })).toEqual({
      error: {
        message: 'Warden BUDGET_EXCEEDED: over',
        type: 'insufficient_quota',
        param: null,
        code: 'BUDGET_EXCEEDED',
      },
    });
    const types = [400, 401, 403, 404, 409, 413, 429, 502].map(
      (status) =>
        (providerErrorBody('openai', { status, code: 'X', message: 'm' }).error as { type: string }).type,
    );
    expect(types).toEqual([
      'invalid_request_error',
      'authentication_error',
      'permission_error',
      'not_found_error',
      'conflict_error',
      'invalid_request_error',
      'rate_limit_error',
      'server_error',
    ]);
  });

  it('writes Anthropic’s shape, with the Warden code as details.error_code and the facts beside it', () => {
    const warden = { callId: 'c1', reasons: ['no'] };
    expect(
      providerErrorBody('anthropic', { status: 403, code: 'POLICY_BLOCKED', message: 'no', warden }),
    ).toEqual({
      type: 'error',
      error: {
        type: 'permission_error',
        message: 'Warden POLICY_BLOCKED: no',
        details: { error_code: 'POLICY_BLOCKED', warden },
      },
    });
    const types = [400, 409, 413, 429, 503].map(
      (status) =>
        (providerErrorBody('anthropic', { status, code: 'X', message: 'm' }).error as { type: string }).type,
    );
    expect(types).toEqual([
      'invalid_request_error',
      'invalid_request_error',
      'request_too_large',
      'rate_limit_error',
      'api_error',
    ]);
  });
});
