import { WardenError } from '@warden/core';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../server-context.js';
import type { Principal } from './principal.js';

/** Authenticates a request's key and checks its role; past the failure limit, only known keys are looked up. */
export async function authorize(
  ctx: ServerContext,
  request: FastifyRequest,
  roles: readonly string[],
): Promise<Principal> {
  // A valid key is never refused for its address's failures (a NAT or proxy shares one address). Past the
  // limit, a bad key gets 429 instead of 401 and only keys this instance has seen are looked up, so
  // guessing costs neither the database nor the cache anything.
  const limited = !ctx.authFailures.allows(request.ip);
  let principal: Principal;
  try {
    principal = await ctx.auth.authenticate(request.headers.authorization, { knownOnly: limited });
  } catch (err) {
    if (err instanceof WardenError && err.code === 'UNAUTHENTICATED') {
      ctx.authFailures.take(request.ip, 'failed authentications from this address');
    }
    throw err;
  }
  if (!roles.includes(principal.role)) {
    throw new WardenError(
      'FORBIDDEN',
      `the ${principal.role} role may not do this (allowed: ${roles.join(', ')})`,
      {
        role: principal.role,
        allowed: roles,
      },
    );
  }
  ctx.keyLimiter?.take(principal.keyId, 'requests with this key');
  return principal;
}
