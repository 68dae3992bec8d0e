import { type ResponseOf, type StartedTaskSchema, TASK_TOKEN_HEADER } from '@warden/api';
import { WardenError } from '@warden/core';

/** The header that carries a task token on every request that decides a call or waits for one. */
export { TASK_TOKEN_HEADER };

/** A compact JWS: three base64url parts (what every task token Warden signs looks like). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Why `token` cannot be a task token (it could not even be sent as a header), or undefined. */
export function taskTokenProblem(token: unknown): string | undefined {
  if (typeof token !== 'string' || token === '') return 'it is empty or not a string';
  if (token.length > 16_384) return 'it is longer than any task token (16 KiB)';
  if (!COMPACT_JWS.test(token)) return 'it is not a signed token (header.payload.signature in base64url)';
  return undefined;
}

/**
 * Refuses, before anything is sent, a value that cannot be a task token: the error names where it came
 * from. Whether a well-formed one is genuine is for Warden to verify.
 */
export function checkTaskToken(token: unknown, where: string): asserts token is string {
  const problem = taskTokenProblem(token);
  if (problem === undefined) return;
  throw new WardenError(
    'CONFIG_INVALID',
    `${where} is not a task token: ${problem}; pass the token that startTask, delegate or POST /v1/tasks returned`,
  );
}

/** Who a task is started for, as a trusted backend vouches for them (its service key holds `initiator`). */
export interface TaskInitiatorInput {
  /** The person's stable id at the backend (the IdP subject, an employee id). */
  readonly subject: string;
  /** The display name recorded as the task's `triggeredBy`. */
  readonly name?: string;
}

/** Options of `startTask`. */
export interface StartTaskOptions {
  /** The agent the task is for (default: this client's own agent). */
  readonly agent?: string;
  /** The person's OpenID Connect ID token, verified by Warden against the configured identity provider. */
  readonly idToken?: string;
  /** Without an ID token: the person a trusted backend (a service key with `initiator`) vouches for. */
  readonly initiator?: TaskInitiatorInput;
  /** A new session id for the task (default: one Warden makes). */
  readonly session?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Lifetime in seconds (default 1 h, at most 24 h). */
  readonly ttlSeconds?: number;
}

/** A task Warden started: the token to hand the agent, and what it binds (POST /v1/tasks's answer). */
export type StartedTask = ResponseOf<typeof StartedTaskSchema>;

/** A child's token from a token exchange (RFC 8693). */
export interface DelegatedToken {
  readonly token: string;
  /** Seconds until it expires (never later than the parent's). */
  readonly expiresIn?: number;
}

/**
 * What a task token says about itself, read without verifying it (Warden verifies; this is for showing
 * which session a client is in). Undefined when the payload cannot be read.
 */
export function readTaskToken(
  token: string,
): { session?: string; agent?: string; taskId?: string } | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
    const session = text(claims.session);
    const agent = text(claims.agent);
    const taskId = text(claims.task_id);
    return {
      ...(session ? { session } : {}),
      ...(agent ? { agent } : {}),
      ...(taskId ? { taskId } : {}),
    };
  } catch {
    return undefined;
  }
}
