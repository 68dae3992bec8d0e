import type { Actor, AuditEvent, IdentityProof } from './audit-event.js';

/**
 * How each identity named in an audit event was verified, for any event, old or new. Events recorded
 * since issue 19 carry `identity` (agent, initiator and delegation chain, each with its proof); older
 * events, and events that do not carry it, are read from what they hold: the actor's key id or OIDC
 * issuer and subject, and `triggeredBy` / `delegationChain`, which nothing verified (`claimed`).
 */

/** Where in the event an identity stands. */
export type IdentityRole = 'actor' | 'agent' | 'initiator' | 'delegate';

/** One identity named in an event, and how it was verified. */
export interface EventIdentity {
  readonly role: IdentityRole;
  /** The name it goes by: the actor's id, the agent's name, the initiator's name, a delegate's name. */
  readonly name: string;
  readonly proof: IdentityProof;
}

/** The claimed proof: a name written in a request that nothing verified. */
export const CLAIMED: IdentityProof = Object.freeze({ method: 'claimed' });

/** How the actor of an event was verified: its key, its OIDC issuer and subject, Warden itself, or not at all. */
export function actorProof(actor: Actor): IdentityProof {
  if (actor.kind === 'system') return { method: 'system' };
  if (actor.keyId !== undefined) return { method: 'api_key', keyId: actor.keyId };
  if (actor.issuer !== undefined && actor.subject !== undefined) {
    return { method: 'oidc', issuer: actor.issuer, subject: actor.subject };
  }
  // An event from before key ids were recorded: the name alone.
  return CLAIMED;
}

/** Only the fields of the proof itself (a recorded initiator or delegate also holds its name). */
function proofOnly(p: IdentityProof): IdentityProof {
  const out: { -readonly [K in keyof IdentityProof]: IdentityProof[K] } = { method: p.method };
  if (p.keyId !== undefined) out.keyId = p.keyId;
  if (p.issuer !== undefined) out.issuer = p.issuer;
  if (p.subject !== undefined) out.subject = p.subject;
  if (p.tokenId !== undefined) out.tokenId = p.tokenId;
  if (p.taskId !== undefined) out.taskId = p.taskId;
  return out;
}

/**
 * Who stands behind the call the event is about (its agent, initiator and delegation chain), with how
 * each was verified. From `identity` when recorded; otherwise the agent is as verified as the actor when
 * the actor is that agent (a call's own event) and claimed when not, and the initiator and chain are
 * claimed. A recorded identity that misses a name the event holds counts that name as claimed.
 */
export function callParties(e: AuditEvent): EventIdentity[] {
  const out: EventIdentity[] = [];
  const id = e.identity;
  if (e.agent !== undefined) {
    const own = e.actor.kind === 'agent' && e.actor.id === e.agent;
    const proof = id ? proofOnly(id.agent) : own ? actorProof(e.actor) : CLAIMED;
    out.push({ role: 'agent', name: e.agent, proof });
  }
  if (id?.initiator) {
    out.push({
      role: 'initiator',
      name: id.initiator.name ?? e.triggeredBy ?? id.initiator.subject ?? '(unnamed)',
      proof: proofOnly(id.initiator),
    });
  } else if (e.triggeredBy !== undefined) {
    out.push({ role: 'initiator', name: e.triggeredBy, proof: CLAIMED });
  }
  const chain = id?.chain ?? [];
  for (const link of chain) out.push({ role: 'delegate', name: link.agent, proof: proofOnly(link) });
  // Names of the recorded chain that its verified part does not cover (or all of it, with no identity).
  for (const name of (e.delegationChain ?? []).slice(chain.length)) {
    out.push({ role: 'delegate', name, proof: CLAIMED });
  }
  return out;
}

/**
 * Whether the event records a call itself (or carries its identity): `call.*`, `task.*`,
 * `identity.refused`. Approval and session events name the parties of their call again without
 * recording how they were verified (the call's own events did), so readers count and show the parties
 * of these events only.
 */
export function recordsCall(e: AuditEvent): boolean {
  return (
    e.identity !== undefined ||
    e.type.startsWith('call.') ||
    e.type.startsWith('task.') ||
    e.type === 'identity.refused'
  );
}

/** Every identity the event names: its actor first, then the parties of the call it is about. */
export function eventIdentities(e: AuditEvent): EventIdentity[] {
  return [{ role: 'actor', name: e.actor.id, proof: actorProof(e.actor) }, ...callParties(e)];
}

/** The initiator and delegates of the event's call that are only claimed (empty when all are verified). */
export function unverifiedClaims(e: AuditEvent): EventIdentity[] {
  return callParties(e).filter((p) => p.role !== 'agent' && p.proof.method === 'claimed');
}

/** The short word for a method, as the dashboard, the CLI and the report show it. */
export function proofLabel(method: IdentityProof['method']): string {
  switch (method) {
    case 'api_key':
      return 'key';
    case 'oidc':
      return 'SSO';
    case 'task_token':
      return 'task token';
    case 'system':
      return 'Warden';
    case 'claimed':
      return 'claimed, unverified';
  }
}

/** What backs a proof, in a few words: the key id, issuer and subject, or token and task ids. */
export function proofDetail(p: IdentityProof): string {
  switch (p.method) {
    case 'api_key':
      return p.keyId ?? '';
    case 'oidc':
      return [p.issuer, p.subject].filter((x) => x !== undefined).join(' ');
    case 'task_token':
      return [p.taskId && `task ${p.taskId}`, p.tokenId && `token ${p.tokenId}`].filter(Boolean).join(', ');
    default:
      return '';
  }
}
