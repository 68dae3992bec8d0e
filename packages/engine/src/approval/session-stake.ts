import type { Stake } from '@warden/core';
import { parseAuditQuery } from '../store/audit-query.js';
import type { Store } from '../store/store.js';

/** Calls refused for who they claimed to be: their names are not the session's. */
const REFUSED_BEFORE_RUNNING = new Set([
  'CALL_INVALID',
  'SESSION_FOREIGN',
  'TASK_TOKEN_INVALID',
  'TASK_TOKEN_MISMATCH',
  'IDENTITY_REQUIRED',
]);

/** How many of a session's calls are read for its stake (a rare human action pays for it). */
const MAX_CALLS_READ = 200_000;

/**
 * Everyone with a stake in a session: the agent and human that started it, and every human who triggered
 * and every agent that delegated any call in it since. A person who triggered one call halfway through a
 * task has a stake in it too, so they may not resume it or decide its requests. Read from the session's
 * recorded decisions (an indexed range), only when a human acts: votes, resumes, grants.
 */
export async function sessionStake(store: Store, id: string): Promise<Stake[]> {
  const session = await store.getSession(id);
  if (!session) return [];
  const stakes: Stake[] = [
    { agent: session.agent, triggeredBy: session.triggeredBy, delegationChain: session.delegationChain },
  ];
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (let read = 0; read < MAX_CALLS_READ; ) {
    const page = await store.queryAudit(
      parseAuditQuery({ session: id, type: 'call.decided', limit: 5_000, ...(cursor ? { cursor } : {}) }),
    );
    for (const r of page.records) {
      const e = r.event;
      // Only the session's own agent and its delegates: another agent's call aimed at this session (refused
      // as SESSION_FOREIGN, but recorded under its id) must not write names into someone else's stake.
      if (REFUSED_BEFORE_RUNNING.has(e.decision?.code ?? '')) continue;
      if (e.agent !== session.agent && !(e.delegationChain ?? []).includes(session.agent)) continue;
      const key = `${e.agent}\u0000${e.triggeredBy ?? ''}\u0000${(e.delegationChain ?? []).join('\u0000')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      stakes.push({
        agent: e.agent ?? session.agent,
        triggeredBy: e.triggeredBy ?? null,
        delegationChain: e.delegationChain ?? [],
      });
    }
    read += page.records.length;
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  return stakes;
}
