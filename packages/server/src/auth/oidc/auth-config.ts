import { envReference } from '@warden/core';
import { z } from 'zod';

const GroupList = z.array(z.string().min(1).max(200)).max(200).default([]);

/**
 * The one form of an issuer Warden compares and records: without a trailing slash (Auth0's issuer ends in
 * `/`; the config, the discovery check, the callback's `iss` and every person's issuer use this form).
 */
export function normalIssuer(issuer: string): string {
  return issuer.replace(/\/+$/, '');
}

/** The OpenID Connect relying party: the IdP, this server's client, and how claims become roles. */
export const OidcConfigSchema = z.strictObject({
  issuer: z
    .url({
      protocol: /^https?$/,
      error:
        'must be the issuer URL, http(s)://… (its discovery document is at /.well-known/openid-configuration)',
    })
    .transform(normalIssuer),
  clientId: z.string().min(1).max(500),
  clientSecret: z.string().min(1).max(2_000).meta({
    description: 'The client secret, or env:NAME to read it from $NAME (recommended).',
  }),
  scopes: z.array(z.string().min(1)).min(1).default(['openid', 'email', 'profile', 'groups']),
  personClaim: z.enum(['email', 'sub']).default('email').meta({
    description: 'The claim that names the person in Warden (their principal id): email (default) or sub.',
  }),
  groupsClaim: z.string().min(1).max(200).default('groups'),
  trustUnverifiedEmail: z.boolean().default(false).meta({
    description:
      "DANGEROUS: accept an email the IdP does not mark email_verified (as the person's name with personClaim email, and for Slack). Only for an IdP that issues verified emails alone.",
  }),
  roles: z
    .strictObject({ admin: GroupList, approver: GroupList, auditor: GroupList })
    .partial()
    .default({})
    .meta({ description: 'IdP groups that give each role (the highest wins: admin, approver, auditor).' }),
  approverGroups: GroupList.meta({
    description: 'IdP groups usable by name as approver groups in policies (`approverGroups: [dba]`).',
  }),
  taskAudiences: z.array(z.string().min(1)).default([]).meta({
    description: 'Extra client ids whose ID tokens POST /v1/tasks accepts.',
  }),
});

/** The `auth` section of the server configuration. */
export const AuthConfigSchema = z
  .strictObject({
    keySignIn: z
      .union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
      .default(true)
      .meta({
        description:
          "Whether people may use API keys (the dashboard's key sign-in, a human key on the API). false: people sign in only through SSO; agent and service keys are unchanged.",
      }),
    oidc: OidcConfigSchema.optional(),
  })
  .default({ keySignIn: true })
  .superRefine((auth, ctx) => {
    if (auth.keySignIn === false && !auth.oidc) {
      ctx.addIssue({
        code: 'custom',
        path: ['keySignIn'],
        message: 'keySignIn: false needs auth.oidc (otherwise no person could sign in)',
      });
    }
  });

export type OidcConfig = z.output<typeof OidcConfigSchema>;
export type AuthConfig = z.output<typeof AuthConfigSchema>;

/**
 * Replaces an `env:NAME` client secret with $NAME; returns the problems (naming the field) instead of
 * throwing, so the server config reports every problem at once.
 */
export function resolveAuthSecrets(
  auth: AuthConfig,
  env: NodeJS.ProcessEnv,
  source: string | undefined,
): { auth: AuthConfig; problems: string[] } {
  if (!auth.oidc) return { auth, problems: [] };
  const name = envReference(auth.oidc.clientSecret);
  if (!name) return { auth, problems: [] };
  const value = env[name];
  if (value === undefined || value === '') {
    return {
      auth,
      problems: [`auth.oidc.clientSecret (${source}): the environment variable ${name} is not set`],
    };
  }
  return { auth: { ...auth, oidc: { ...auth.oidc, clientSecret: value } }, problems: [] };
}

/** Whether a URL's host is loopback (127.0.0.0/8, ::1, localhost): plain http is fine only there. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * What the rest of the server config must give SSO: a publicUrl (the IdP redirects the browser back to it;
 * without one the redirect URI is taken from the request's Host header) unless the server listens on
 * loopback, and an https issuer unless the IdP is on loopback. Problems name the field.
 */
export function ssoDeploymentProblems(
  auth: AuthConfig,
  server: { publicUrl?: string | undefined; host: string },
  source: (field: string) => string | undefined,
): string[] {
  if (!auth.oidc) return [];
  const problems: string[] = [];
  if (!server.publicUrl && !isLoopbackHost(server.host)) {
    problems.push(
      `publicUrl (${source('publicUrl')}): auth.oidc needs publicUrl (the address people open, e.g. https://warden.example.com) when the server listens on ${server.host}, not loopback: the IdP's redirect back is built from it`,
    );
  }
  const issuer = new URL(auth.oidc.issuer);
  if (issuer.protocol !== 'https:' && !isLoopbackHost(issuer.hostname)) {
    problems.push(
      `auth.oidc.issuer (${source('auth')}): must be https:// (${auth.oidc.issuer} is plain http on a host that is not loopback)`,
    );
  }
  return problems;
}
