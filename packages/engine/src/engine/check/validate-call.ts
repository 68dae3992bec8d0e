import { type ToolCall, ToolCallSchema, uuidv7 } from '@warden/core';
import type { DecidedCall } from '../call-events.js';
import type { CheckDeps } from './check-deps.js';
import type { CheckResult } from './check-types.js';
import { engineDecision, unavailable } from './engine-decision.js';
import { recordDecision } from './record-decision.js';

type Issues = readonly { path: PropertyKey[]; message: string }[];

/** The call, parsed against the schema; or what is wrong with it. */
export type ValidatedCall =
  | { readonly ok: true; readonly call: ToolCall }
  | { readonly ok: false; readonly issues: Issues };

/** The first step: the body must be a call (agent, tool, arguments, ids a store can hold). */
export function validateCall(input: unknown): ValidatedCall {
  const parsed = ToolCallSchema.safeParse(input);
  return parsed.success ? { ok: true, call: parsed.data } : { ok: false, issues: parsed.error.issues };
}

/**
 * Records an invalid call as blocked CALL_INVALID, naming every problem, under what can be salvaged from
 * the body (its agent and session when usable); nothing the body claims is believed.
 */
export async function recordInvalid(
  deps: CheckDeps,
  input: unknown,
  callId: string,
  ts: string,
  issues: Issues,
  keyId: string | undefined,
): Promise<CheckResult> {
  const policy = deps.port.policy();
  const raw = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const problems = issues.map((i) => `${i.path.map(String).join('.') || 'call'}: ${i.message}`);
  const decision = engineDecision(policy, 'CALL_INVALID', `the call is invalid: ${problems.join('; ')}`);
  // The invalid call's own session id only when it can be stored as one (no control characters).
  const usable =
    typeof raw.session === 'string' && ToolCallSchema.shape.session.safeParse(raw.session).success;
  const sessionId = usable ? (raw.session as string) : uuidv7();
  const agent = typeof raw.agent === 'string' && raw.agent.length > 0 ? raw.agent.slice(0, 200) : 'unknown';
  const call: DecidedCall = {
    callId,
    ts,
    agent,
    session: sessionId,
    ...(typeof raw.tool === 'string' ? { tool: raw.tool.slice(0, 500) } : {}),
    args: raw.args,
    // Nothing the body claims is believed; a token it came with is not even read.
    identity: { agent: keyId ? { method: 'api_key', keyId } : { method: 'claimed' } },
  };
  try {
    return await recordDecision(deps, call, decision, []);
  } catch (err) {
    return unavailable(err, callId, sessionId, deps.port.policy());
  }
}
