import { IdParamsSchema, PersonViewSchema, RevokePersonRequestSchema } from '@warden/api';
import { WardenError } from '@warden/core';
import type { PersonRecord } from '@warden/engine';
import { actorOf } from '../auth/principal.js';
import { defineRoute } from '../http/route-spec.js';
import type { ServerContext } from '../server-context.js';

/** The person a path names: their subject at the configured issuer, else their Warden name (email). */
async function personNamed(ctx: ServerContext, id: string): Promise<PersonRecord> {
  const store = ctx.engine.store;
  const person =
    (ctx.oidc ? await store.person(ctx.oidc.issuer, id) : undefined) ?? (await store.personByName(id));
  if (!person) {
    throw new WardenError(
      'NOT_FOUND',
      `no person ${JSON.stringify(id)} has signed in through SSO here (name them by their Warden name, e.g. their email, or their subject at the IdP)`,
      { person: id },
    );
  }
  return person;
}

function view(p: PersonRecord) {
  return {
    issuer: p.issuer,
    subject: p.subject,
    name: p.name,
    email: p.email,
    role: p.role,
    groups: [...p.groups],
    approverGroups: [...p.approverGroups],
    lastSignedInAt: p.lastSignedInAt,
  };
}

/** People signed in through the IdP: an admin can cut one off at once, without waiting for the IdP. */
export const peopleRoutes = [
  defineRoute({
    method: 'POST',
    url: '/v1/people/:id/revoke',
    tag: 'auth',
    summary:
      'Cut a person signed in through SSO off now: their role becomes none (identity.roles_changed), so every dashboard session, CLI token and live stream of theirs stops at its next request on every instance (within 2 s). Their next sign-in at the IdP reads their groups again: remove them there too. :id is their Warden name (email) or their subject at the IdP.',
    roles: ['admin'],
    params: IdParamsSchema,
    body: RevokePersonRequestSchema,
    response: { status: 200, schema: PersonViewSchema },
    errors: ['NOT_FOUND'],
    async handler({ params, body, principal, ctx }) {
      const before = await personNamed(ctx, params.id);
      const after: PersonRecord = { ...before, role: null, approverGroups: [] };
      const who = { issuer: before.issuer, subject: before.subject };
      await ctx.engine.commit({
        mutations: [{ kind: 'person.upsert', person: after }],
        events: [
          ctx.engine.systemEvent('identity.roles_changed', actorOf(principal), {
            data: {
              ...who,
              name: before.name,
              from: {
                role: before.role,
                groups: [...before.groups],
                approverGroups: [...before.approverGroups],
              },
              to: { role: null, groups: [...before.groups], approverGroups: [] },
              via: 'revoke',
              ...(body?.reason ? { reason: body.reason } : {}),
            },
          }),
        ],
      });
      ctx.people.forget(who);
      return view(after);
    },
  }),
];
