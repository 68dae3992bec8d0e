import type { ToolCall } from '@warden/core';
import type { TaskClaims } from '../../identity/task-token.js';
import type { Mutation, SessionRecord } from '../../store/store.js';
import type { CheckDeps } from './check-deps.js';
import type { EngineBlockCode } from './check-types.js';

/** Why the engine blocks a call before the policy sees it. */
export interface SessionBlock {
  readonly code: EngineBlockCode;
  readonly reason: string;
}

/**
 * Whether the call may enter its session at all: not paused or closed, not another agent's (unless as
 * its delegate), not a task's without the task's token.
 */
export async function sessionGate(
  deps: CheckDeps,
  session: SessionRecord | undefined,
  call: ToolCall,
  claims: TaskClaims | undefined,
): Promise<SessionBlock | undefined> {
  return (
    sessionBlock(session) ??
    foreignSession(session, call, claims) ??
    (await taskSession(deps, session, claims))
  );
}

/** A paused or closed session takes no calls. */
export function sessionBlock(s: SessionRecord | undefined): SessionBlock | undefined {
  if (s?.state === 'paused') {
    return {
      code: 'SESSION_PAUSED',
      reason: `session ${s.id} is paused${s.stateReason ? `: ${s.stateReason}` : ''}; a human must resume it`,
    };
  }
  if (s?.state === 'closed')
    return { code: 'SESSION_CLOSED', reason: `session ${s.id} is closed; start a new session` };
  return undefined;
}

/**
 * A session belongs to the agent that started it. Another agent may join it only as that agent's
 * delegate, proven by a task token for the session (a token exchange from the session's task); a
 * claimed delegationChain proves nothing, or any agent could spend the session's budget, trip its
 * breakers or hide its calls among another agent's.
 */
function foreignSession(
  s: SessionRecord | undefined,
  call: ToolCall,
  claims: TaskClaims | undefined,
): SessionBlock | undefined {
  if (!s || s.agent === call.agent || claims?.session === s.id) return undefined;
  return {
    code: 'SESSION_FOREIGN',
    reason: `session ${s.id} belongs to agent ${s.agent}; ${call.agent} may join it only with a task token for it (delegated by token exchange; a claimed delegationChain is not enough)`,
  };
}

/**
 * A session a task started may be joined only with that task's token (or a child of it): a call
 * without one cannot add its own claims to the task's trail or spend its budgets.
 */
async function taskSession(
  deps: CheckDeps,
  s: SessionRecord | undefined,
  claims: TaskClaims | undefined,
): Promise<SessionBlock | undefined> {
  if (!s || claims?.session === s.id) return undefined;
  const task = await deps.tasks.sessionTask(s.id);
  if (task === null) return undefined;
  return {
    code: 'IDENTITY_REQUIRED',
    reason: `session ${s.id} was started by task ${task}; calls into it need a token of that task (Warden-Task-Token)`,
  };
}

/** The row of a session the call starts, written with its decision. */
export function newSession(id: string, call: ToolCall, ts: string): Mutation {
  const session: SessionRecord = {
    id,
    agent: call.agent,
    state: 'active',
    stateReason: null,
    triggeredBy: call.triggeredBy ?? null,
    delegationChain: call.delegationChain ?? [],
    createdAt: ts,
    updatedAt: ts,
  };
  // Only if new: a session someone else creates between the lookup and the commit is not the caller's.
  return { kind: 'session.ensure' as const, session, onlyIfNew: true };
}
