import {
  ApiKeyListSchema,
  ApiKeySchema,
  CreatedKeySchema,
  CreateKeySchema,
  IdParamsSchema,
  RevokeKeyRequestSchema,
} from '@warden/api';
import { parseDuration, WardenError } from '@warden/core';
import { createApiKey, publicView, revokeApiKey } from '@warden/engine';
import { actorOf } from '../auth/principal.js';
import { defineRoute } from '../http/route-spec.js';

const KeyParams = IdParamsSchema;

export const keyRoutes = [
  defineRoute({
    method: 'POST',
    url: '/v1/keys',
    tag: 'keys',
    summary: 'Create an API key. The secret is in this response and nowhere else, ever.',
    roles: ['admin'],
    body: CreateKeySchema,
    response: { status: 201, schema: CreatedKeySchema },
    async handler({ body, principal, ctx }) {
      const expiresAt = body.expiresAt ?? (body.ttl ? expiryFrom(body.ttl) : null);
      const { key, secret } = await createApiKey(
        ctx.engine,
        {
          principalKind: body.principalKind,
          principal: body.principal,
          role: body.role,
          label: body.label ?? null,
          expiresAt,
          ...(body.permissions ? { permissions: body.permissions } : {}),
        },
        actorOf(principal),
      );
      return { key: publicView(key), secret };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/keys',
    tag: 'keys',
    summary: 'List API keys (never their secrets).',
    roles: ['admin'],
    response: { status: 200, schema: ApiKeyListSchema },
    handler: async ({ ctx }) => ({ keys: (await ctx.engine.store.apiKeys()).map(publicView) }),
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/keys/:id/revoke',
    tag: 'keys',
    summary: 'Revoke an API key on every instance; open live streams using it are closed.',
    roles: ['admin'],
    params: KeyParams,
    body: RevokeKeyRequestSchema,
    response: { status: 200, schema: ApiKeySchema },
    errors: ['KEY_NOT_FOUND', 'KEY_REVOKED'],
    async handler({ params, body, principal, ctx }) {
      const key = await revokeApiKey(ctx.engine, params.id, actorOf(principal), body?.reason);
      ctx.auth.evict(key.id);
      ctx.sse.closeKey(key.id);
      return publicView(key);
    },
  }),
];

function expiryFrom(ttl: string): string {
  const ms = parseDuration(ttl);
  if (ms === undefined || ms <= 0) {
    throw new WardenError(
      'REQUEST_INVALID',
      `ttl ${JSON.stringify(ttl)} is not a duration such as 30d or 12h`,
      {
        problems: ['ttl: not a duration'],
      },
    );
  }
  return new Date(Date.now() + ms).toISOString();
}
