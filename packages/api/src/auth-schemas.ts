import { z } from 'zod';
import { API_ROLES } from './wire-vocabulary.js';

/** Schemas of the dashboard sign-in routes (/v1/auth/session). */

export const SignInRequestSchema = z.strictObject({
  key: z.string().min(1).max(200).meta({ description: 'A human API key (wdn_…).' }),
});

/** Who is signed in, and the CSRF token of a cookie sign-in. */
export const SignedInSchema = z
  .object({
    principal: z.object({
      id: z.string(),
      kind: z.string(),
      role: z.enum(API_ROLES),
      keyId: z.string(),
      expiresAt: z.string().nullable(),
      /** A person signed in through SSO: their IdP identity and approver groups. */
      issuer: z.string().optional(),
      subject: z.string().optional(),
      approverGroups: z.array(z.string()).optional(),
    }),
    csrfToken: z.string().nullable().meta({
      description:
        'Send it as x-warden-csrf with every request that changes something (cookie sign-in only).',
    }),
    expiresAt: z.string().nullable().meta({ description: 'When the sign-in ends.' }),
  })
  .meta({ id: 'DashboardSession' });

/** How people may sign in here (no authentication: the dashboard's sign-in page and `warden login` read it). */
export const AuthConfigViewSchema = z
  .object({
    keySignIn: z.boolean().meta({ description: 'Whether people may sign in with an API key.' }),
    sso: z.object({
      enabled: z.boolean(),
      loginUrl: z
        .string()
        .nullable()
        .meta({ description: 'Open it (with ?returnTo=/path) to sign in to the dashboard through the IdP.' }),
    }),
  })
  .meta({ id: 'AuthConfig' });

/** Where the browser sign-in returns to: a path on this server (never another origin). */
export const OidcLoginQuerySchema = z.strictObject({
  returnTo: z.string().max(2_000).optional(),
});

/** What the identity provider sends back to the callback (RFC 6749 §4.1.2, RFC 9207 `iss`). */
export const OidcCallbackQuerySchema = z.object({
  code: z.string().max(4_000).optional(),
  state: z.string().max(1_000).optional(),
  iss: z.string().max(2_000).optional(),
  error: z.string().max(200).optional(),
  error_description: z.string().max(2_000).optional(),
});

/** A device authorization started for the CLI (RFC 8628 §3.2, in this API's spelling). */
export const DeviceAuthorizationSchema = z
  .object({
    deviceCode: z.string(),
    userCode: z.string(),
    verificationUri: z.string(),
    verificationUriComplete: z.string().nullable(),
    expiresIn: z.number().int(),
    interval: z.number().int(),
  })
  .meta({ id: 'DeviceAuthorization' });

export const DeviceTokenRequestSchema = z.strictObject({
  deviceCode: z.string().min(1).max(4_000),
});

export const RefreshRequestSchema = z.strictObject({
  refreshToken: z.string().min(1).max(16_000),
});

/** A person signed in through SSO: the principal with their IdP identity and groups. */
export const PersonPrincipalSchema = z.object({
  id: z.string(),
  kind: z.literal('human'),
  role: z.enum(API_ROLES),
  keyId: z.string(),
  expiresAt: z.string().nullable(),
  issuer: z.string(),
  subject: z.string(),
  approverGroups: z.array(z.string()),
});

/** Tokens for the CLI: a bearer access token (at most an hour) and a refresh token. */
export const SignedInTokensSchema = z
  .object({
    status: z.literal('ok'),
    accessToken: z.string().meta({ description: 'Send as Authorization: Bearer <accessToken>.' }),
    refreshToken: z.string().meta({ description: 'POST /v1/auth/refresh with it for new tokens.' }),
    expiresAt: z.string().meta({ description: 'When the access token ends.' }),
    principal: PersonPrincipalSchema,
  })
  .meta({ id: 'SignedInTokens' });

/** The device flow's poll: still waiting (poll again after `interval` seconds), or signed in. */
export const DeviceTokenSchema = z
  .union([z.object({ status: z.literal('pending'), interval: z.number().int() }), SignedInTokensSchema])
  .meta({ id: 'DeviceToken' });
