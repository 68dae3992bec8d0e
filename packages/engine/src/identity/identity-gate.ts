import {
  type CallIdentity,
  type CompiledPolicy,
  isWardenError,
  type ToolCall,
  WardenError,
} from '@warden/core';
import { bindToToken, claimedIdentity, verifiedIdentity } from './call-identity.js';
import type { TaskService } from './task-service.js';
import type { TaskClaims } from './task-token.js';

/** The identity codes the check path blocks with. */
export type IdentityBlockCode = 'TASK_TOKEN_INVALID' | 'TASK_TOKEN_MISMATCH' | 'IDENTITY_REQUIRED';

/** What the check path learns about who stands behind a call before it is decided. */
export type IdentityGate =
  | {
      readonly ok: true;
      /** The call with the token's session, initiator and chain (unchanged without a token). */
      readonly call: ToolCall;
      readonly identity: CallIdentity;
      readonly claims?: TaskClaims;
    }
  | {
      readonly ok: false;
      readonly call: ToolCall;
      readonly identity: CallIdentity;
      readonly code: IdentityBlockCode;
      readonly reason: string;
      /** Recorded as `identity.refused` beside the decision. */
      readonly refusal?: WardenError;
    };

/**
 * Verifies the task token a call came with and binds the call to it; without a token, applies the
 * policy's `identity.requireTaskToken`. Never throws for a refusal: it is the gate's answer.
 */
export async function identityGate(
  tasks: TaskService,
  policy: CompiledPolicy,
  call: ToolCall,
  options: { readonly taskToken?: string; readonly keyId?: string },
): Promise<IdentityGate> {
  if (options.taskToken === undefined) {
    const identity = claimedIdentity(call, options.keyId);
    const claims = call.triggeredBy !== undefined || (call.delegationChain?.length ?? 0) > 0;
    if (claims && policy.identity.requireTaskToken(call.agent)) {
      const named = [
        call.triggeredBy !== undefined && 'an initiator (triggeredBy)',
        (call.delegationChain?.length ?? 0) > 0 && 'a delegation chain',
      ]
        .filter(Boolean)
        .join(' and ');
      return {
        ok: false,
        call,
        identity,
        code: 'IDENTITY_REQUIRED',
        reason: `the policy requires a task token for agent ${call.agent} (identity.requireTaskToken): this call names ${named} without one; start a task (POST /v1/tasks) and send its token (Warden-Task-Token)`,
      };
    }
    return { ok: true, call, identity };
  }
  let claims: TaskClaims;
  try {
    claims = await tasks.inspect(options.taskToken, call.agent);
  } catch (err) {
    if (!isWardenError(err, 'TASK_TOKEN_INVALID')) throw err;
    return {
      ok: false,
      call,
      identity: claimedIdentity(call, options.keyId),
      code: 'TASK_TOKEN_INVALID',
      reason: err.message,
      refusal: err,
    };
  }
  const identity = verifiedIdentity(claims, options.keyId);
  const bound = bindToToken(call, claims);
  if ('mismatch' in bound) {
    const reason = `the call's ${bound.mismatch.join(' and ')} ${bound.mismatch.length === 1 ? 'disagrees' : 'disagree'} with its task token ${claims.tokenId}; leave ${bound.mismatch.length === 1 ? 'it' : 'them'} out or send the token's`;
    return {
      ok: false,
      // Recorded in the token's session: the token is genuine, so the refusal belongs to its task's trail.
      call: { ...call, session: claims.session },
      identity,
      code: 'TASK_TOKEN_MISMATCH',
      reason,
      refusal: refusedMismatch(reason, claims.tokenId),
    };
  }
  return { ok: true, call: bound.call, identity, claims };
}

function refusedMismatch(reason: string, tokenId: string): WardenError {
  return new WardenError('TASK_TOKEN_MISMATCH', reason, { reason: 'mismatch', tokenId });
}
