import { isWardenError } from '@warden/core';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Where the IdP sends the browser back (sso-routes.ts registers it). */
export const SSO_CALLBACK_PATH = '/v1/auth/oidc/callback';

/** The dashboard's page that shows a failed SSO sign-in in words. */
export const SIGN_IN_PAGE = '/signin';

interface BrowserInput {
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
}

/**
 * Wraps a browser leg of the SSO sign-in (the IdP's redirect back): a person's browser that navigated
 * there (it accepts HTML) is sent to the dashboard's sign-in page with the refusal's code and message
 * (`/signin?error=SSO_DENIED&message=…`) instead of being shown a JSON error body; API clients still get
 * the JSON error.
 */
export function browserSignInErrors<
  S extends { readonly url: string; readonly handler: (input: never) => Promise<unknown> },
>(spec: S): S {
  const handler = spec.handler as unknown as (input: BrowserInput) => Promise<unknown>;
  const wrapped = async (input: BrowserInput) => {
    try {
      return await handler(input);
    } catch (err) {
      const accept = String(input.request.headers.accept ?? '');
      if (!isWardenError(err) || !accept.includes('text/html')) throw err;
      const target = new URLSearchParams({ error: err.code, message: err.message });
      input.reply.code(302).header('location', `${SIGN_IN_PAGE}?${target}`);
      return null;
    }
  };
  return { ...spec, handler: wrapped };
}
