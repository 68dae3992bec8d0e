import { evaluate, type ToolCall, uuidv7 } from '@warden/core';
import { identityGate } from '../../identity/identity-gate.js';
import { isSessionExists } from '../../store/session-exists.js';
import { argsFingerprint, type DecidedCall } from '../call-events.js';
import { admitBudget } from './budget-admission.js';
import type { CheckDeps } from './check-deps.js';
import type { CheckOptions, CheckResult } from './check-types.js';
import { type EngineDecision, engineDecision, unavailable } from './engine-decision.js';
import { grantLift } from './grant-lift.js';
import { recordIdentityRefusal } from './identity-refusal.js';
import { loopBreakers, tripEvents } from './loop-breakers.js';
import { recordPausing } from './pause-session.js';
import { recordDecision } from './record-decision.js';
import { redeemApproval } from './redeem-approval.js';
import { newSession, sessionGate } from './session-gate.js';
import { recordInvalid, validateCall } from './validate-call.js';

/**
 * What a check decides: a body from outside, validated first; or a call its caller already validated
 * against `ToolCallSchema` (or the API's request schema refined with the domain's rules), which is not
 * parsed a second time.
 */
export type CheckInput =
  | { readonly validated: false; readonly body: unknown }
  | { readonly validated: true; readonly call: ToolCall };

/**
 * Decides a call, as its steps: validate the call, establish who stands behind it (identity), let it
 * into its session (session gate), evaluate the policy, run the loop breakers, redeem an approval it
 * presents or lift a default block by a grant, admit it against its budgets, and record the decision
 * (opening an approval request for a review). Every step that ends the check records its decision.
 *
 * `again`: a retry after the session the call would have started was created by someone else meanwhile;
 * a second such race is then an unavailable store, not another retry.
 */
export async function checkCall(
  deps: CheckDeps,
  input: CheckInput,
  options: CheckOptions,
  again: boolean,
): Promise<CheckResult> {
  const now = new Date();
  const ts = now.toISOString();
  const callId = uuidv7();
  let parsed: ToolCall;
  if (input.validated) parsed = input.call;
  else {
    const valid = validateCall(input.body);
    if (!valid.ok) return recordInvalid(deps, input.body, callId, ts, valid.issues, options.keyId);
    parsed = valid.call;
  }
  const policy = deps.port.policy();
  let call: ToolCall = { ...parsed, now };
  let sessionId = call.session ?? uuidv7();
  try {
    const gate = await identityGate(deps.tasks, policy, call, options);
    call = gate.call;
    sessionId = call.session ?? sessionId;
    // A session id the engine just made cannot exist yet: no lookup.
    const session = call.session === undefined ? undefined : await deps.port.store.getSession(sessionId);
    // The fingerprint is computed once: the loop breakers and the decision event both need it.
    const argsHmac = argsFingerprint(deps.hmacKey, call.args);
    const decided: DecidedCall = {
      ...call,
      callId,
      ts,
      session: sessionId,
      argsHmac,
      identity: gate.identity,
      ...(options.keyId ? { keyId: options.keyId } : {}),
    };
    if (!gate.ok) return await recordIdentityRefusal(deps, policy, gate, session, decided);
    const blocked = await sessionGate(deps, session, call, gate.claims);
    if (blocked)
      return await recordDecision(deps, decided, engineDecision(policy, blocked.code, blocked.reason), []);
    let decision: EngineDecision = evaluate(policy, { ...call, session: sessionId });
    const ensure = session ? [] : [newSession(sessionId, call, ts)];
    const trip = await loopBreakers(deps, call, sessionId, session, ts, callId, argsHmac);
    if (trip && policy.mode === 'monitor') {
      decision = {
        ...decision,
        reasons: [...decision.reasons, `monitor mode: would be blocked (RUNAWAY_DETECTED): ${trip.reason}`],
      };
    } else if (trip) {
      const stop = engineDecision(
        policy,
        'RUNAWAY_DETECTED',
        `${trip.reason}; session ${sessionId} is paused until a human resumes it`,
      );
      return await recordPausing(deps, decided, stop, ensure, tripEvents(deps, decided, trip));
    }
    if (options.approvalId !== undefined) {
      return await redeemApproval(
        deps,
        decided,
        call,
        decision,
        ensure,
        options.approvalId,
        options.estimate,
      );
    }
    decision = await grantLift(deps, decision, call, sessionId, now, session);
    if (options.meteredBy) decision = { ...decision, meteredBy: options.meteredBy };
    return await admitBudget(deps, decided, decision, ensure, options.estimate);
  } catch (err) {
    if (!again && isSessionExists(err)) {
      // The session is someone else's after all: its history is read from the trail, without this call.
      deps.history.forget(sessionId);
      throw err;
    }
    return unavailable(err, callId, sessionId, policy);
  }
}

/**
 * `checkCall`, once more when the session the call would have started was created by someone else
 * meanwhile (a task, another agent): decided again over the session as it now is, never assumed to be
 * the caller's.
 */
export async function checkWithRetry(
  deps: CheckDeps,
  input: CheckInput,
  options: CheckOptions,
): Promise<CheckResult> {
  try {
    return await checkCall(deps, input, options, false);
  } catch (err) {
    if (!isSessionExists(err)) throw err;
    return checkCall(deps, input, options, true);
  }
}
