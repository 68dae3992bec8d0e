import type { AuditEvent } from '../api/api-types.js';

/**
 * Who a call was for and through whom, and how each was verified, as badges. The same reading as the
 * core's identity-proofs (the report and the CLI use that one; the dashboard bundles only @warden/api):
 * from the event's recorded `identity`, else `triggeredBy` and `delegationChain` are claims nothing
 * verified.
 */

type Proof = NonNullable<AuditEvent['identity']>['agent'];
type Method = Proof['method'];

/** One party of a call: its name and how it was verified. */
export interface Party {
  readonly name: string;
  readonly proof: Proof;
}

const LABELS: Record<Method, string> = {
  api_key: 'key',
  oidc: 'SSO',
  task_token: 'task token',
  system: 'Warden',
  claimed: 'claimed, unverified',
};

/** The evidence behind a proof, for the badge's tooltip. */
function evidence(p: Proof): string {
  if (p.method === 'api_key') return `API key ${p.keyId ?? ''}`;
  if (p.method === 'oidc') return `signed in at ${p.issuer ?? '?'} as ${p.subject ?? '?'}`;
  if (p.method === 'task_token') return `task token ${p.tokenId ?? '?'} (task ${p.taskId ?? '?'})`;
  if (p.method === 'claimed') return 'named in the request; nothing verified it';
  return 'Warden itself';
}

/** How the actor of an event was verified: its key, its SSO issuer and subject, Warden, or its name alone. */
export function actorProof(a: AuditEvent['actor']): Proof {
  if (a.kind === 'system') return { method: 'system' };
  if (a.keyId !== undefined) return { method: 'api_key', keyId: a.keyId };
  if (a.issuer !== undefined && a.subject !== undefined) {
    return { method: 'oidc', issuer: a.issuer, subject: a.subject };
  }
  return { method: 'claimed' };
}

/** Events that record a call itself (or carry its identity): the only ones whose parties are shown. */
function recordsCall(e: AuditEvent): boolean {
  return (
    e.identity !== undefined ||
    e.type.startsWith('call.') ||
    e.type.startsWith('task.') ||
    e.type === 'identity.refused'
  );
}

/** The initiator and the delegation chain of the call an event records, each with its proof. */
export function callParties(e: AuditEvent): { initiator: Party | null; chain: Party[] } {
  if (!recordsCall(e)) return { initiator: null, chain: [] };
  const id = e.identity;
  const claimed: Proof = { method: 'claimed' };
  const initiator: Party | null = id?.initiator
    ? { name: id.initiator.name ?? e.triggeredBy ?? id.initiator.subject ?? '(unnamed)', proof: id.initiator }
    : e.triggeredBy !== undefined
      ? { name: e.triggeredBy, proof: claimed }
      : null;
  const verified = id?.chain ?? [];
  const chain: Party[] = [
    ...verified.map((link) => ({ name: link.agent, proof: link })),
    // Names the recorded chain does not cover are claims (all of them, on events without identity).
    ...(e.delegationChain ?? []).slice(verified.length).map((name) => ({ name, proof: claimed })),
  ];
  return { initiator, chain };
}

/** A small badge saying how an identity was verified; a claim in a warning style. */
export function ProofBadge(props: { readonly proof: Proof }) {
  const m = props.proof.method;
  return (
    <span class={`proof ${m}`} data-proof={m} title={evidence(props.proof)}>
      {LABELS[m]}
    </span>
  );
}

/** `sam [claimed, unverified] via planner [task token]`: who a call was for and through whom. */
export function CallParties(props: { readonly event: AuditEvent }) {
  const { initiator, chain } = callParties(props.event);
  if (!initiator && chain.length === 0) return null;
  return (
    <span class="parties" data-testid="call-parties">
      {initiator ? (
        <span class="party" data-role="initiator">
          {initiator.name} <ProofBadge proof={initiator.proof} />
        </span>
      ) : null}
      {chain.length > 0 ? (
        <span class="party" data-role="chain">
          {initiator ? ' via ' : 'via '}
          {chain.map((p, i) => (
            <span key={`${i}-${p.name}`} data-role="delegate">
              {i > 0 ? ' → ' : ''}
              {p.name} <ProofBadge proof={p.proof} />
            </span>
          ))}
        </span>
      ) : null}
    </span>
  );
}
