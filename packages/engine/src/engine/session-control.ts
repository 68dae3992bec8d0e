import { type Actor, selfApproval, WardenError } from '@warden/core';
import { sessionStake } from '../approval/session-stake.js';
import type { SessionRecord, SessionState } from '../store/store.js';
import type { Engine } from './engine.js';

/**
 * Pausing, resuming and closing sessions. Each change and its audit event commit together. Resuming
 * is a human decision and obeys separation of duties: the session's agent, the human who triggered it
 * and every agent up its delegation chain can never resume it.
 */
export async function pauseSession(
  engine: Engine,
  id: string,
  by: Actor,
  reason: string,
): Promise<SessionRecord> {
  return change(engine, id, by, 'paused', ['active'], reason, 'session.paused');
}

/** Resumes a paused session; refused (APPROVAL_SELF_APPROVAL) for anyone with a stake in it. */
export async function resumeSession(
  engine: Engine,
  id: string,
  by: Actor,
  reason: string,
): Promise<SessionRecord> {
  const session = await engine.store.getSession(id);
  if (!session) throw new WardenError('SESSION_NOT_FOUND', `no session has id ${id}`);
  if (by.kind !== 'human') {
    throw new WardenError(
      'APPROVAL_SELF_APPROVAL',
      `${by.kind === 'agent' ? 'an agent' : 'a service'} cannot resume a session; a person must`,
    );
  }
  const sod = selfApproval(by, `resume session ${id}`, ...(await sessionStake(engine.store, id)));
  if (sod) {
    // A refused resume is recorded like a refused vote: who tried, and why not.
    await engine.commit({
      events: [
        engine.systemEvent('approval.refused', by, {
          session: id,
          data: { act: 'resume', code: sod.code, reason: sod.message },
        }),
      ],
    });
    throw sod;
  }
  return change(engine, id, by, 'active', ['paused'], reason, 'session.resumed');
}

/** Closes a session for good; further calls in it are blocked. */
export async function closeSession(
  engine: Engine,
  id: string,
  by: Actor,
  reason: string,
): Promise<SessionRecord> {
  return change(engine, id, by, 'closed', ['active', 'paused'], reason, 'session.closed');
}

async function change(
  engine: Engine,
  id: string,
  by: Actor,
  state: SessionState,
  from: readonly SessionState[],
  reason: string,
  type: 'session.paused' | 'session.resumed' | 'session.closed',
): Promise<SessionRecord> {
  const ts = new Date().toISOString();
  const event = engine.systemEvent(type, by, { session: id, data: { reason } });
  await engine.commit({
    mutations: [{ kind: 'session.state', id, state, from, reason, ts }],
    events: [event],
  });
  const after = await engine.store.getSession(id);
  if (!after) throw new WardenError('SESSION_NOT_FOUND', `no session has id ${id}`);
  return after;
}
