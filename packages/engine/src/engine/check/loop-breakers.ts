import {
  type AuditEvent,
  type AuditRecord,
  detectRunaway,
  historyNeeded,
  type ToolCall,
  type Trip,
} from '@warden/core';
import type { SeenCall } from '../../budget/session-history.js';
import { encodeCursor } from '../../store/audit-query.js';
import type { SessionRecord } from '../../store/store.js';
import type { DecidedCall } from '../call-events.js';
import type { CheckDeps } from './check-deps.js';
import { WARDEN } from './engine-decision.js';

/** Calls the engine refused before they could run: they are not part of what a session did. */
const ENGINE_ONLY = new Set([
  'SESSION_PAUSED',
  'SESSION_CLOSED',
  'SESSION_FOREIGN',
  'CALL_INVALID',
  'RUNAWAY_DETECTED',
  'TASK_TOKEN_INVALID',
  'TASK_TOKEN_MISMATCH',
  'IDENTITY_REQUIRED',
]);

/**
 * The loop detectors, run on every call before it is decided: the call joins its session's recent
 * history either way, and a trip says why the session must pause. The history of a session this
 * instance has not seen yet (a restart, another instance's session) is read from the audit trail once.
 */
export async function loopBreakers(
  deps: CheckDeps,
  call: ToolCall,
  sessionId: string,
  session: SessionRecord | undefined,
  ts: string,
  callId: string,
  argsHmac: string,
): Promise<Trip | undefined> {
  const history = deps.history;
  const store = deps.port.store;
  const settings = deps.port.policy().budgets.forAgent(call.agent).breakers;
  const judged = settings.repeat || settings.pingPong || settings.rate;
  if (!judged) {
    // The token-burn breaker still needs the history restarted at a resume (it drops older burns).
    if (session && settings.tokenBurn && !history.current(sessionId, session.updatedAt))
      history.seed(sessionId, session.updatedAt, [], 0);
    return undefined;
  }
  const at = Date.parse(ts);
  const need = historyNeeded(settings);
  const maxAge = Math.max(
    settings.repeat?.withinMs ?? 0,
    settings.pingPong?.withinMs ?? 0,
    settings.rate ? 60_000 : 0,
  );
  const trace: SeenCall = { tool: call.tool, argsHmac, at, callId };
  if (!session) {
    // A call that starts a session cannot be a loop yet. When the caller named the session, its history
    // starts here, as of the session row this call's commit creates (updatedAt = ts), so the session's
    // next call finds it current and does not read it back from the trail. A session the engine made
    // up for a call without one is seldom called again: it is not held.
    if (call.session !== undefined) {
      history.seed(sessionId, ts, [], 0);
      history.push(sessionId, trace, need, maxAge);
    }
    return undefined;
  }
  const from = new Date(Math.max(Date.parse(session.updatedAt), at - maxAge)).toISOString();
  if (!history.current(sessionId, session.updatedAt)) {
    const page = await store.queryAudit({
      session: sessionId,
      type: 'call.decided',
      from,
      limit: 10_000,
    });
    const last = page.records.at(-1)?.seq ?? 0;
    history.seed(sessionId, session.updatedAt, seen(page.records).slice(-need), last);
  } else if (store.dialect === 'postgres') {
    // Other instances may serve the same session: read the decisions they recorded since the last look,
    // so a loop spread across instances is caught as soon as on one.
    const page = await store.queryAudit({
      session: sessionId,
      type: 'call.decided',
      from,
      ...(history.lastSeq(sessionId) > 0 ? { cursor: encodeCursor(history.lastSeq(sessionId)) } : {}),
      limit: 1_000,
    });
    const last = page.records.at(-1)?.seq;
    if (last !== undefined) history.merge(sessionId, seen(page.records), last, need, maxAge);
  }
  const trip = detectRunaway(history.traces(sessionId), trace, settings);
  history.push(sessionId, trace, need, maxAge);
  return trip;
}

/** The `breaker.tripped` event recorded with the block a trip causes. */
export function tripEvents(deps: CheckDeps, call: DecidedCall, trip: Trip): AuditEvent[] {
  return [
    deps.port.event('breaker.tripped', WARDEN, {
      ts: call.ts,
      agent: call.agent,
      session: call.session,
      ...(call.tool ? { tool: call.tool } : {}),
      callId: call.callId,
      data: { breaker: trip.breaker, reason: trip.reason, ...trip.detail },
    }),
  ];
}

/** The calls of a session's trail that count as what it did (not the engine's own refusals). */
function seen(records: readonly AuditRecord[]): SeenCall[] {
  return records
    .map((r) => r.event)
    .filter(
      (e) => e.tool !== undefined && e.argsHmac !== undefined && !ENGINE_ONLY.has(e.decision?.code ?? ''),
    )
    .map((e) => ({
      tool: e.tool as string,
      argsHmac: e.argsHmac as string,
      at: Date.parse(e.ts),
      callId: e.callId as string,
    }));
}
