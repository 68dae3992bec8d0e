import { type Actor, WardenError } from '@warden/core';
import type { PersonRecord } from '@warden/engine';
import type { ServerContext } from '../../server-context.js';
import type { VerifiedPerson } from './id-token-verifier.js';

/** How the person signed in. */
export type SignInVia = 'dashboard' | 'device' | 'refresh';

/** The audit actor for a person the IdP vouched for: named by issuer and subject, never a key. */
export function personActor(p: Pick<VerifiedPerson, 'name' | 'issuer' | 'subject'>): Actor {
  return { kind: 'human', id: p.name, issuer: p.issuer, subject: p.subject };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * Records a sign-in the IdP vouched for, durably before the caller answers: the person is written to the
 * people store (their role and groups as the IdP says now, read by every instance on the person's next
 * request), with `auth.signed_in` and, when their role or groups changed since their last sign-in,
 * `identity.roles_changed`. A person whose groups map to no role is still written (so their other
 * sessions lose access at once) and refused: SSO_DENIED, recorded as `identity.refused`.
 */
export async function recordPersonSignIn(
  ctx: ServerContext,
  person: VerifiedPerson,
  info: { via: SignInVia; session?: string; expiresAt: string; address: string },
): Promise<void> {
  const store = ctx.engine.store;
  const before = await store.person(person.issuer, person.subject);
  const now = new Date().toISOString();
  const record: PersonRecord = {
    issuer: person.issuer,
    subject: person.subject,
    name: person.name,
    email: person.email ?? null,
    displayName: person.displayName ?? null,
    role: person.role,
    groups: person.groups,
    approverGroups: person.approverGroups,
    firstSignedInAt: before?.firstSignedInAt ?? now,
    lastSignedInAt: now,
  };
  const actor = personActor(person);
  const who = { issuer: person.issuer, subject: person.subject };
  const changed =
    before !== undefined && (before.role !== person.role || !sameList(before.groups, person.groups));
  const events = [
    ...(changed
      ? [
          ctx.engine.systemEvent('identity.roles_changed', actor, {
            data: {
              ...who,
              from: {
                role: before.role,
                groups: [...before.groups],
                approverGroups: [...before.approverGroups],
              },
              to: { role: person.role, groups: person.groups, approverGroups: person.approverGroups },
              via: info.via,
            },
          }),
        ]
      : []),
    person.role === null
      ? ctx.engine.systemEvent('identity.refused', actor, {
          data: { ...who, reason: 'no_role', groups: person.groups, via: info.via, address: info.address },
        })
      : ctx.engine.systemEvent('auth.signed_in', actor, {
          data: {
            ...who,
            method: 'oidc',
            role: person.role,
            groups: person.groups,
            approverGroups: person.approverGroups,
            via: info.via,
            ...(info.session ? { session: info.session } : {}),
            expiresAt: info.expiresAt,
            address: info.address,
          },
        }),
  ];
  await ctx.engine.commit({ mutations: [{ kind: 'person.upsert', person: record }], events });
  ctx.people.forget(who);
  if (person.role === null) {
    const roles = ctx.oidc?.config.roles ?? {};
    const mapped = Object.entries(roles)
      .map(([role, groups]) => `${role}: ${(groups ?? []).join(', ') || '(none)'}`)
      .join('; ');
    throw new WardenError(
      'SSO_DENIED',
      `${person.name} signed in at the identity provider, but none of their groups (${person.groups.join(', ') || 'none'}) gives a Warden role (${mapped}); ask an administrator to add them to one of those groups`,
      { reason: 'no_role', groups: person.groups },
    );
  }
}
