import { invisibleCharacter, WardenError } from '@warden/core';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import type { LlmEndpoint } from './llm-endpoints.js';
import type { RequestEstimate } from './request-estimate.js';
import { asObject } from './usage-meter.js';

/** The call Warden decides for an LLM request. */
export interface LlmCall {
  readonly agent: string;
  /** `llm:openai` or `llm:anthropic`: what a policy's tool globs match. */
  readonly tool: string;
  readonly args: {
    readonly model: string;
    readonly endpoint: LlmEndpoint['name'];
    readonly stream: boolean;
    readonly maxOutputTokens: number;
    readonly promptHash: string;
  };
  /** Unset under a task token with no `Warden-Session` header: the token's session is the call's. */
  readonly session?: string;
  readonly triggeredBy?: string;
}

/**
 * The session of a request that names none: one per agent key and UTC day, `llm-<keyId>-<YYYY-MM-DD>`.
 * An agent that only changed its base URL sends no session header; without this, each of its requests
 * would start a session of its own and no breaker or session budget would ever see two of them.
 */
export function defaultSession(keyId: string, now: Date): string {
  return `llm-${keyId}-${now.toISOString().slice(0, 10)}`;
}

/**
 * Headers in which a coding assistant names its own session on every model request, one a line. Its
 * `warden hook` checks the assistant's tool calls in that session, so its model traffic is metered in
 * the same one. Read only to name the session, and only when the request names none (`Warden-Session`)
 * and carries no task token (whose session wins).
 */
export const ASSISTANT_SESSION_HEADERS: readonly string[] = [
  'x-claude-code-session-id', // Claude Code
  'session-id', // Codex CLI (its thread id, the `session_id` its hooks receive)
];

/** The assistant's own session id, from the first of ASSISTANT_SESSION_HEADERS the request carries. */
export function assistantSessionHeader(request: FastifyRequest): string | undefined {
  for (const name of ASSISTANT_SESSION_HEADERS) {
    const v = request.headers[name];
    const value = Array.isArray(v) ? v[0] : v;
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/**
 * An LLM request as a tool call: the agent from its key, the session and the triggering human from the
 * `Warden-Session` and `Warden-Triggered-By` headers (both optional; without a session, the task token's
 * when one is sent, else the assistant's own session header, else the key's session of the day), and the
 * facts a rule may test (model, endpoint, streaming, output cap) as arguments. A header that disagrees
 * with the task token is the engine's to refuse, as a body that disagrees with it is.
 */
export function llmCall(
  request: FastifyRequest,
  principal: Principal,
  endpoint: LlmEndpoint,
  estimate: RequestEstimate,
  stream: boolean,
): LlmCall {
  const named = headerValue(request, 'warden-session');
  const session =
    named ??
    (taskTokenHeader(request) === undefined
      ? (assistantSessionHeader(request) ?? defaultSession(principal.keyId, new Date()))
      : undefined);
  const triggeredBy = triggeredByHeader(request);
  return {
    agent: principal.id,
    tool: `llm:${endpoint.provider}`,
    args: {
      model: estimate.model,
      endpoint: endpoint.name,
      stream,
      maxOutputTokens: estimate.maxOutputTokens,
      promptHash: estimate.promptHash,
    },
    ...(session === undefined ? {} : { session }),
    ...(triggeredBy === undefined ? {} : { triggeredBy }),
  };
}

/** The `Warden-Task-Token` header: the task whose verified identity the request is made under. */
export function taskTokenHeader(request: FastifyRequest): string | undefined {
  return headerValue(request, 'warden-task-token');
}

/**
 * The request body and its model: a JSON object naming its model (OpenAI and Anthropic require one in
 * the body; Gemini names it in the path, `pathModel`, and the body is left as the client sent it).
 */
export function requestBody(
  body: unknown,
  pathModel?: string,
): { body: Record<string, unknown>; model: string } {
  const b = asObject(body);
  if (!b) {
    throw new WardenError('REQUEST_INVALID', 'the body must be a JSON object', {
      problems: ['body: not an object'],
    });
  }
  if (pathModel !== undefined) return { body: b, model: pathModel };
  if (typeof b.model !== 'string' || b.model === '' || b.model.length > 200) {
    throw new WardenError('REQUEST_INVALID', 'body.model must name the model (at most 200 characters)', {
      problems: ['body.model: required, a string of 1 to 200 characters'],
    });
  }
  return { body: b, model: b.model };
}

/** A Warden header, also accepted with the `x-` prefix some proxies and clients insist on. */
export function headerValue(request: FastifyRequest, name: string): string | undefined {
  for (const n of [name, `x-${name}`]) {
    const v = request.headers[n];
    const value = Array.isArray(v) ? v[0] : v;
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/**
 * The `Warden-Triggered-By` header, refused when it holds a character no reader could see: headers are
 * read as latin1, so a C1 control such as U+0085 arrives in the name, and separation of duties must never
 * compare a name nobody can read.
 */
export function triggeredByHeader(request: FastifyRequest): string | undefined {
  const value = headerValue(request, 'warden-triggered-by');
  const bad = value === undefined ? undefined : invisibleCharacter(value);
  if (bad !== undefined) {
    throw new WardenError(
      'REQUEST_INVALID',
      `the Warden-Triggered-By header must contain only visible characters; it contains ${bad}`,
      { problems: [`Warden-Triggered-By: contains ${bad}`] },
    );
  }
  return value;
}
