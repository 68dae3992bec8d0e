import { type AuditEvent, isWardenError } from '@warden/core';
import { outboxFor } from '../../approval/approval-events.js';
import type { Mutation } from '../../store/store.js';
import type { DecidedCall } from '../call-events.js';
import type { EnginePort } from '../engine-port.js';
import type { CheckDeps } from './check-deps.js';
import type { CheckResult } from './check-types.js';
import { type EngineDecision, WARDEN } from './engine-decision.js';
import { type RecordExtra, recordDecision } from './record-decision.js';

/**
 * Records a block that pauses its session (a tripped breaker, a spent budget), with the events saying
 * why; their notifications are queued in the same commit.
 */
export async function recordPausing(
  deps: CheckDeps,
  call: DecidedCall,
  decision: EngineDecision,
  ensure: Mutation[],
  why: AuditEvent[],
): Promise<CheckResult> {
  const pausing = pauseOf(deps, call, decision, why, true);
  try {
    return await recordDecision(deps, call, decision, [...ensure, ...pausing.mutations], pausing.extra);
  } catch (err) {
    // Paused (or closed) meanwhile by another call: the block and its reasons stand without a new pause.
    if (!isWardenError(err, 'SESSION_STATE')) throw err;
    return recordDecision(deps, call, decision, ensure, pauseOf(deps, call, decision, why, false).extra);
  }
}

/**
 * What a block recorded with the events `why` carries: with `pause`, the session's pause (from active
 * only: SESSION_STATE when it is no longer) and its session.paused event; the notifications of them all.
 */
export function pauseOf(
  deps: CheckDeps,
  call: DecidedCall,
  decision: EngineDecision,
  why: AuditEvent[],
  pause: boolean,
): { readonly mutations: Mutation[]; readonly extra: RecordExtra } {
  const targets = deps.port.notificationTargets;
  if (!pause)
    return {
      mutations: [],
      extra: { events: why, mutations: why.flatMap((e) => outboxFor(targets, e, null)) },
    };
  const reason = decision.reasons[0] ?? 'paused by Warden';
  const paused = deps.port.event('session.paused', WARDEN, {
    ts: call.ts,
    agent: call.agent,
    session: call.session,
    data: { reason, code: decision.code ?? null },
  });
  const state: Mutation = {
    kind: 'session.state',
    id: call.session,
    state: 'paused',
    from: ['active'],
    reason,
    ts: call.ts,
  };
  const events = [...why, paused];
  return {
    mutations: [state],
    extra: { events, mutations: events.flatMap((e) => outboxFor(targets, e, null)) },
  };
}

/** Pauses a session after the fact (a breach found on settlement, a token burn), with the reasons. */
export async function pauseLater(
  port: EnginePort,
  session: string,
  agent: string,
  code: string,
  reason: string,
  why: AuditEvent[],
): Promise<void> {
  const ts = new Date().toISOString();
  const paused = port.event('session.paused', WARDEN, { ts, agent, session, data: { reason, code } });
  const pause: Mutation = {
    kind: 'session.state',
    id: session,
    state: 'paused',
    from: ['active'],
    reason,
    ts,
  };
  try {
    await port.commit({
      events: [...why, paused],
      mutations: [pause, ...[...why, paused].flatMap((e) => outboxFor(port.notificationTargets, e, null))],
    });
  } catch (err) {
    if (!isWardenError(err, 'SESSION_STATE')) throw err;
    await port.commit({
      events: why,
      mutations: why.flatMap((e) => outboxFor(port.notificationTargets, e, null)),
    });
  }
}
