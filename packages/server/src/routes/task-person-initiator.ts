import { WardenError } from '@warden/core';
import type { TaskInitiator } from '@warden/engine';
import type { Principal } from '../auth/principal.js';
import type { ServerContext } from '../server-context.js';

/**
 * True for a person signed in through the identity provider — the CLI's access token (`warden login`)
 * or the dashboard's SSO session — whose issuer and subject the server verified at their sign-in. A
 * human API key is not: its name is whatever the admin who made it typed, a claim, not an identity.
 */
export function isSignedInPerson(p: Principal): p is Principal & { issuer: string; subject: string } {
  return p.kind === 'human' && p.issuer !== undefined && p.subject !== undefined;
}

/**
 * The initiator of a task a signed-in person starts for an agent on their own behalf: themselves, by
 * the issuer and subject the IdP verified and the name of their person record, read from the people store
 * now (not the sign-in's two-second cache), so a person revoked a moment ago on any instance starts
 * nothing. Naming anyone else as the initiator is FORBIDDEN: only a backend vouching with the initiator
 * permission may speak for another person.
 */
export async function signedInInitiator(
  ctx: ServerContext,
  principal: Principal & { issuer: string; subject: string },
  claimed: { subject: string; name: string } | undefined,
): Promise<TaskInitiator> {
  const person = await ctx.engine.store.person(principal.issuer, principal.subject);
  if (!person || person.role === null) {
    throw new WardenError(
      'SSO_DENIED',
      `${principal.id} has no Warden role now (revoked, or their IdP groups map to none of auth.oidc.roles), so they cannot start a task`,
      { reason: person ? 'no_role' : 'unknown' },
    );
  }
  if (claimed && (claimed.subject !== person.subject || claimed.name !== person.name)) {
    throw new WardenError(
      'FORBIDDEN',
      `a person signed in by SSO starts a task as its initiator only (${person.name}, subject ${person.subject}); leave initiator out, or start it for someone else from a service key holding the initiator permission`,
      {
        allowed: ['yourself as the initiator'],
        initiator: { subject: claimed.subject, name: claimed.name },
      },
    );
  }
  return { method: 'oidc', issuer: person.issuer, subject: person.subject, name: person.name };
}

/** FORBIDDEN for a human API key: only a sign-in the IdP verified says who a person is. */
export function humanKeyRefused(p: Principal): WardenError {
  return new WardenError(
    'FORBIDDEN',
    `a human API key (${p.keyId}) cannot start a task: its name (${p.id}) is only what its creator typed. Sign in with \`warden login\` (SSO) and start it as yourself, or start it from a service key holding the initiator permission`,
    {
      role: p.role,
      allowed: ['a person signed in by SSO (for themselves)', 'service key with permission initiator'],
    },
  );
}
