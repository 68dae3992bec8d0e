import { type CallIdentity, identityKeys, type Stake } from '@warden/core';
import { encodeCursor, parseAuditQuery } from '../store/audit-query.js';
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
  const read = await startStake(store, id);
  if (!read) return [];
  await readDecisions(store, read);
  return read.stakes;
}

/** A session's stake as read so far: the decisions after `afterSeq` are still to be read. */
interface StakeRead {
  readonly id: string;
  readonly agent: string;
  readonly stakes: Stake[];
  readonly seen: Set<string>;
  afterSeq: number;
}

/**
 * Sessions' stakes kept up to date from their recorded decisions, each read once: a grant is checked on
 * every call it lets through, and reading the whole session each time would cost the length of the
 * session per call. The chain is appended in seq order (one writer at a time), so reading after the last
 * seq read misses nothing. Bounded: the least recently used sessions are forgotten.
 */
export class SessionStakes {
  readonly #store: Store;
  readonly #reads = new Map<string, StakeRead>();
  readonly #max: number;

  constructor(store: Store, max = 10_000) {
    this.#store = store;
    this.#max = max;
  }

  /** The session's stake, every decision recorded until now included. */
  async of(id: string): Promise<Stake[]> {
    let read = this.#reads.get(id);
    if (read) this.#reads.delete(id);
    else read = await startStake(this.#store, id);
    if (!read) return [];
    await readDecisions(this.#store, read);
    if (this.#reads.size >= this.#max) this.#reads.delete(this.#reads.keys().next().value as string);
    this.#reads.set(id, read);
    return [...read.stakes];
  }
}

async function startStake(store: Store, id: string): Promise<StakeRead | undefined> {
  const session = await store.getSession(id);
  if (!session) return undefined;
  const read: StakeRead = {
    id,
    agent: session.agent,
    stakes: [
      { agent: session.agent, triggeredBy: session.triggeredBy, delegationChain: session.delegationChain },
    ],
    seen: new Set<string>(),
    afterSeq: 0,
  };
  // The task that started the session (if one did): its initiator's verified identity, before any call.
  const started = await store.queryAudit(parseAuditQuery({ session: id, type: 'task.started', limit: 1 }));
  for (const r of started.records) {
    addStake(read, {
      agent: session.agent,
      triggeredBy: session.triggeredBy,
      delegationChain: [],
      identities: verifiedIdentities(r.event.identity),
    });
  }
  return read;
}

function addStake(read: StakeRead, stake: Stake): void {
  const key = JSON.stringify(stake);
  if (read.seen.has(key)) return;
  read.seen.add(key);
  read.stakes.push(stake);
}

/** Reads the session's decisions recorded after the last one read (at most MAX_CALLS_READ a time). */
async function readDecisions(store: Store, read: StakeRead): Promise<void> {
  for (let count = 0; count < MAX_CALLS_READ; ) {
    const page = await store.queryAudit(
      parseAuditQuery({
        session: read.id,
        type: 'call.decided',
        limit: 5_000,
        ...(read.afterSeq > 0 ? { cursor: encodeCursor(read.afterSeq) } : {}),
      }),
    );
    for (const r of page.records) {
      read.afterSeq = Math.max(read.afterSeq, r.seq);
      const e = r.event;
      // Only the session's own agent and its delegates: another agent's call aimed at this session (refused
      // as SESSION_FOREIGN, but recorded under its id) must not write names into someone else's stake.
      if (REFUSED_BEFORE_RUNNING.has(e.decision?.code ?? '')) continue;
      if (e.agent !== read.agent && !(e.delegationChain ?? []).includes(read.agent)) continue;
      const identities = verifiedIdentities(e.identity);
      addStake(read, {
        agent: e.agent ?? read.agent,
        triggeredBy: e.triggeredBy ?? null,
        delegationChain: e.delegationChain ?? [],
        ...(identities.length ? { identities } : {}),
      });
    }
    count += page.records.length;
    if (!page.nextCursor) break;
  }
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
