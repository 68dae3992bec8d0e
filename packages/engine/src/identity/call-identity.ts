import type { CallIdentity, ToolCall } from '@warden/core';
import { tokenIdentity } from './task-service.js';
import type { TaskClaims } from './task-token.js';

/**
 * The identity of a call without a task token: the agent by its key when it called with one, the
 * initiator and chain as claimed (`claimed`: a name the caller wrote and nothing verified).
 */
export function claimedIdentity(call: ToolCall, keyId: string | undefined): CallIdentity {
  return {
    agent: keyId ? { method: 'api_key', keyId } : { method: 'claimed' },
    ...(call.triggeredBy ? { initiator: { method: 'claimed', name: call.triggeredBy } } : {}),
    ...(call.delegationChain?.length
      ? { chain: call.delegationChain.map((agent) => ({ agent, method: 'claimed' as const })) }
      : {}),
  };
}

/** The identity of a call that came with a verified token. */
export function verifiedIdentity(claims: TaskClaims, keyId: string | undefined): CallIdentity {
  const identity = tokenIdentity(claims, keyId);
  // In-process (no key): the token is what names the agent.
  return identity;
}

/**
 * The call with its session, initiator and chain taken from the token, or the fields in which its body
 * disagrees with the token. A field the body leaves out is the token's; one it sends must be the token's.
 */
export function bindToToken(
  call: ToolCall,
  claims: TaskClaims,
): { readonly call: ToolCall } | { readonly mismatch: readonly string[] } {
  const chain = claims.chain.map((l) => l.agent);
  const mismatch = [
    call.session !== undefined &&
      call.session !== claims.session &&
      `session (the token's is ${claims.session})`,
    call.triggeredBy !== undefined &&
      call.triggeredBy !== claims.initiator.name &&
      `triggeredBy (the token's initiator is ${claims.initiator.name})`,
    call.delegationChain !== undefined &&
      (call.delegationChain.length !== chain.length || call.delegationChain.some((a, i) => a !== chain[i])) &&
      `delegationChain (the token's is [${chain.join(', ')}])`,
  ].filter((m): m is string => typeof m === 'string');
  if (mismatch.length > 0) return { mismatch };
  return {
    call: {
      ...call,
      session: claims.session,
      triggeredBy: claims.initiator.name,
      ...(chain.length > 0 ? { delegationChain: chain } : {}),
    },
  };
}
