import { type AuditEvent, isWardenError } from '@warden/core';
import { outboxFor } from '../../approval/approval-events.js';
import type { Mutation } from '../../store/store.js';
import type { DecidedCall } from '../call-events.js';
import type { EnginePort } from '../engine-port.js';
import type { CheckDeps } from './check-deps.js';
import type { CheckResult } from './check-types.js';
import { type EngineDecision, WARDEN } from './engine-decision.js';
import { recordDecision } from './record-decision.js';

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
  const targets = deps.port.notificationTargets;
  const reason = decision.reasons[0] ?? 'paused by Warden';
  const paused = deps.port.event('session.paused', WARDEN, {
    ts: call.ts,
    agent: call.agent,
    session: call.session,
    data: { reason, code: decision.code ?? null },
  });
  const pause: Mutation = {
    kind: 'session.state',
    id: call.session,
    state: 'paused',
    from: ['active'],
    reason,
    ts: call.ts,
  };
  try {
    return await recordDecision(deps, call, decision, [...ensure, pause], {
      events: [...why, paused],
      mutations: [...why, paused].flatMap((e) => outboxFor(targets, e, null)),
    });
  } catch (err) {
    // Paused (or closed) meanwhile by another call: the block and its reasons stand without a new pause.
    if (!isWardenError(err, 'SESSION_STATE')) throw err;
    return recordDecision(deps, call, decision, ensure, {
      events: why,
      mutations: why.flatMap((e) => outboxFor(targets, e, null)),
    });
  }
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
