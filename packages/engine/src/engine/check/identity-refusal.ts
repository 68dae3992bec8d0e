import { type CompiledPolicy, uuidv7 } from '@warden/core';
import type { IdentityGate } from '../../identity/identity-gate.js';
import type { SessionRecord } from '../../store/store.js';
import { callActor, type DecidedCall } from '../call-events.js';
import type { CheckDeps } from './check-deps.js';
import type { CheckResult } from './check-types.js';
import { engineDecision } from './engine-decision.js';
import { recordDecision } from './record-decision.js';

/**
 * Records a call the identity gate refused (a bad task token, a body that disagrees with its token, an
 * initiator claimed without one), with its `identity.refused` event when the gate produced one.
 */
export async function recordIdentityRefusal(
  deps: CheckDeps,
  policy: CompiledPolicy,
  gate: Extract<IdentityGate, { ok: false }>,
  session: SessionRecord | undefined,
  decided: DecidedCall,
): Promise<CheckResult> {
  const call = gate.call;
  // A token that proves nothing does not let its caller write into another agent's session: the
  // refusal is recorded in a session of its own, naming the one it claimed.
  const elsewhere =
    gate.code === 'TASK_TOKEN_INVALID' && session !== undefined && session.agent !== call.agent;
  const at = elsewhere ? { ...decided, session: uuidv7() } : decided;
  const refusal = gate.refusal
    ? [
        deps.tasks.refusalEvent(
          gate.refusal,
          { ...at, callId: decided.callId, ...(elsewhere ? { claimedSession: decided.session } : {}) },
          callActor(decided),
        ),
      ]
    : [];
  return recordDecision(deps, at, engineDecision(policy, gate.code, gate.reason), [], { events: refusal });
}
