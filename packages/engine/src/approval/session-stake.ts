import { type CallIdentity, identityKeys, type Stake } from '@warden/core';
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
  const add = (stake: Stake) => {
    const key = JSON.stringify(stake);
    if (seen.has(key)) return;
    seen.add(key);
    stakes.push(stake);
  };
  // The task that started the session (if one did): its initiator's verified identity, before any call.
  const started = await store.queryAudit(parseAuditQuery({ session: id, type: 'task.started', limit: 1 }));
  for (const r of started.records) {
    add({
      agent: session.agent,
      triggeredBy: session.triggeredBy,
      delegationChain: [],
      identities: verifiedIdentities(r.event.identity),
    });
  }
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
      const identities = verifiedIdentities(e.identity);
      add({
        agent: e.agent ?? session.agent,
        triggeredBy: e.triggeredBy ?? null,
        delegationChain: e.delegationChain ?? [],
        ...(identities.length ? { identities } : {}),
      });
    }
    read += page.records.length;
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  return stakes;
}

/**
 * The verified identities a recorded call names (its `identity`): the initiator's issuer and subject
 * (method oidc) or the key that vouched for them (api_key), and the key ids of the agent and of every
 * agent of a token's chain. Claimed names are left to the name comparison.
 */
function verifiedIdentities(identity: CallIdentity | undefined): string[] {
  if (!identity) return [];
  const i = identity.initiator;
  return [
    ...new Set([
      ...(i && i.method !== 'claimed' ? identityKeys(i) : []),
      ...(identity.agent.method === 'api_key' ? identityKeys({ keyId: identity.agent.keyId }) : []),
      ...(identity.chain ?? [])
        .filter((l) => l.method === 'task_token')
        .flatMap((l) => identityKeys({ keyId: l.keyId })),
    ]),
  ];
}
