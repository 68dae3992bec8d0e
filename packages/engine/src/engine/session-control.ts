import { type Actor, type AuditEvent, selfApproval, type VerifiedWho, WardenError } from '@warden/core';
import { outboxFor } from '../approval/approval-events.js';
import { aliasStake } from '../approval/approval-service.js';
import { sessionStake } from '../approval/session-stake.js';
import type { BudgetService } from '../budget/budget-service.js';
import type { Mutation, SessionRecord, SessionState } from '../store/store.js';
import type { EnginePort } from './engine-port.js';

/** What session control needs from the engine (an `Engine` has both). */
export interface SessionControlDeps {
  readonly port: EnginePort;
  readonly budgets: Pick<BudgetService, 'raise'>;
}

/**
 * Pausing, resuming and closing sessions. Each change and its audit event commit together. Resuming
 * is a human decision and obeys separation of duties: the session's agent, the human who triggered it
 * and every agent up its delegation chain can never resume it.
 */
export async function pauseSession(
  engine: SessionControlDeps,
  id: string,
  by: Actor,
  reason: string,
): Promise<SessionRecord> {
  return change(engine, id, by, 'paused', ['active'], reason, 'session.paused');
}

/** Options of a resume. */
export interface ResumeOptions {
  /** New limits for budgets the session went over, for their current window (recorded as budget.raised). */
  readonly raise?: readonly { readonly budget: string; readonly limit: number }[];
  /** The person's other names and verified identities, each checked for a stake (see ApprovalService.vote). */
  readonly alsoKnownAs?: readonly string[];
  readonly alsoVerified?: readonly VerifiedWho[];
}

/**
 * Resumes a paused session, optionally raising the limits that paused it; refused
 * (APPROVAL_SELF_APPROVAL) for anyone with a stake in it. The raise and the resume commit together.
 */
export async function resumeSession(
  engine: SessionControlDeps,
  id: string,
  by: Actor,
  reason: string,
  options: ResumeOptions = {},
): Promise<SessionRecord> {
  const session = await engine.port.store.getSession(id);
  if (!session) throw new WardenError('SESSION_NOT_FOUND', `no session has id ${id}`);
  if (by.kind !== 'human') {
    throw new WardenError(
      'APPROVAL_SELF_APPROVAL',
      `${by.kind === 'agent' ? 'an agent' : 'a service'} cannot resume a session; a person must`,
    );
  }
  const stakes = await sessionStake(engine.port.store, id);
  const sod =
    selfApproval(by, `resume session ${id}`, ...stakes) ??
    aliasStake(`resume session ${id}`, by, options, stakes);
  if (sod) {
    // A refused resume is recorded like a refused vote: who tried, and why not.
    await engine.port.commit({
      events: [
        engine.port.event('approval.refused', by, {
          session: id,
          data: { act: 'resume', code: sod.code, reason: sod.message },
        }),
      ],
    });
    throw sod;
  }
  const raised = options.raise?.length
    ? await engine.budgets.raise(session, options.raise, by)
    : { mutations: [], events: [] };
  return change(engine, id, by, 'active', ['paused'], reason, 'session.resumed', raised);
}

/** Closes a session for good; further calls in it are blocked. */
export async function closeSession(
  engine: SessionControlDeps,
  id: string,
  by: Actor,
  reason: string,
): Promise<SessionRecord> {
  return change(engine, id, by, 'closed', ['active', 'paused'], reason, 'session.closed');
}

async function change(
  engine: SessionControlDeps,
  id: string,
  by: Actor,
  state: SessionState,
  from: readonly SessionState[],
  reason: string,
  type: 'session.paused' | 'session.resumed' | 'session.closed',
  extra: { mutations: Mutation[]; events: AuditEvent[] } = { mutations: [], events: [] },
): Promise<SessionRecord> {
  const ts = new Date().toISOString();
  const event = engine.port.event(type, by, { session: id, data: { reason } });
  // A pause is news for the webhooks that follow it, whoever paused.
  const outbox = type === 'session.paused' ? outboxFor(engine.port.notificationTargets, event, null) : [];
  await engine.port.commit({
    mutations: [{ kind: 'session.state', id, state, from, reason, ts }, ...extra.mutations, ...outbox],
    events: [...extra.events, event],
  });
  const after = await engine.port.store.getSession(id);
  if (!after) throw new WardenError('SESSION_NOT_FOUND', `no session has id ${id}`);
  return after;
}
