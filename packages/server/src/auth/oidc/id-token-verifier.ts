import { WardenError } from '@warden/core';
import type { ApiRole } from '@warden/engine';
import { decodeJwt, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import type { OidcConfig } from './auth-config.js';
import type { OidcDiscovery } from './oidc-discovery.js';

/** A person an ID token vouches for, with the Warden role and approver groups their IdP groups give. */
export interface VerifiedPerson {
  readonly issuer: string;
  readonly subject: string;
  /** The personClaim value (email by default): the person's Warden principal id. */
  readonly name: string;
  readonly displayName?: string;
  readonly email?: string;
  /** Every group the IdP lists for them. */
  readonly groups: string[];
  /** The highest role their groups map to (admin, approver, auditor), or null when none does. */
  readonly role: ApiRole | null;
  /** Their groups that the config names as approver groups. */
  readonly approverGroups: string[];
}

/** What to check beyond issuer, signature and expiry. */
export interface VerifyOptions {
  /** Accepted audiences (default: this server's client id). */
  readonly audiences?: readonly string[];
  /** The nonce the sign-in sent: the token must carry exactly it. */
  readonly nonce?: string;
  /** Refuse a token issued longer ago than this. */
  readonly maxAgeSeconds?: number;
}

/** Clock skew tolerated between Warden and the IdP. */
export const CLOCK_SKEW_SECONDS = 60;

function invalid(reason: string, message: string, issuer?: string): WardenError {
  return new WardenError('ID_TOKEN_INVALID', `the ID token was refused: ${message}`, {
    reason,
    ...(issuer ? { issuer } : {}),
  });
}

/**
 * Verifies an ID token against the configured issuer's published keys (jose): issuer, audience, expiry
 * (with a small clock skew), a signature algorithm the issuer announces (never `none` or HMAC), and the
 * nonce when one is given. Every refusal is ID_TOKEN_INVALID with details.reason (malformed, issuer,
 * audience, expired, not_yet_valid, too_old, signature, algorithm, nonce, claim).
 */
export async function verifyIdToken(
  discovery: OidcDiscovery,
  config: OidcConfig,
  token: string,
  options: VerifyOptions = {},
): Promise<VerifiedPerson> {
  if (typeof token !== 'string' || token.length > 16_384 || token.split('.').length !== 3) {
    throw invalid('malformed', 'it is not a signed JWT (header.payload.signature)');
  }
  let unverified: JWTPayload;
  let alg: string | undefined;
  try {
    unverified = decodeJwt(token);
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw invalid('malformed', 'it is not a signed JWT (header.payload.signature)');
  }
  const metadata = await discovery.metadata();
  const issuer = metadata.issuer;
  // Said first and plainly: a token from another IdP is the most common mistake, and its key is unknown.
  if (unverified.iss !== issuer) {
    throw invalid(
      'issuer',
      `it was issued by ${JSON.stringify(unverified.iss ?? null)}, not ${issuer}`,
      issuer,
    );
  }
  const algorithms = (metadata.id_token_signing_alg_values_supported ?? ['RS256']).filter(
    (a) => a !== 'none' && !a.startsWith('HS'),
  );
  if (!alg || !algorithms.includes(alg)) {
    throw invalid(
      'algorithm',
      `it is signed with ${alg ?? 'no algorithm'}; the issuer signs with ${algorithms.join(', ')}`,
      issuer,
    );
  }
  const audiences = options.audiences ?? [config.clientId];
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, await discovery.keys(), {
      issuer,
      audience: [...audiences],
      algorithms,
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ['sub', 'exp', 'iat'],
      ...(options.maxAgeSeconds !== undefined ? { maxTokenAge: options.maxAgeSeconds } : {}),
    }));
  } catch (err) {
    throw refusal(err, issuer, audiences);
  }
  if (options.nonce !== undefined && payload.nonce !== options.nonce) {
    throw invalid(
      'nonce',
      'its nonce is not the one this sign-in sent (a replayed or swapped token)',
      issuer,
    );
  }
  return personOf(config, issuer, payload);
}

function refusal(err: unknown, issuer: string, audiences: readonly string[]): WardenError {
  if (err instanceof WardenError) return err;
  if (err instanceof errors.JWTExpired) return invalid('expired', `it expired (${err.message})`, issuer);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') {
      return invalid(
        'audience',
        `it was issued for another client (accepted: ${audiences.join(', ')})`,
        issuer,
      );
    }
    if (err.claim === 'iss') return invalid('issuer', `it was not issued by ${issuer}`, issuer);
    if (err.claim === 'nbf' || (err.claim === 'iat' && err.reason === 'check_failed')) {
      if (/age|too far/i.test(err.message)) return invalid('too_old', err.message, issuer);
      return invalid('not_yet_valid', `it is not valid yet (${err.message})`, issuer);
    }
    return invalid('claim', `its "${err.claim}" claim is missing or wrong (${err.message})`, issuer);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) {
    return invalid('signature', 'its signature does not verify with any key the issuer publishes', issuer);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid('algorithm', err.message, issuer);
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) {
    return new WardenError(
      'IDP_UNAVAILABLE',
      `the identity provider ${issuer} is unavailable: its keys could not be read (${(err as Error).message})`,
      { issuer },
    );
  }
  if (err instanceof errors.JOSEError) return invalid('malformed', err.message, issuer);
  return new WardenError(
    'IDP_UNAVAILABLE',
    `the identity provider ${issuer} is unavailable: its keys could not be read (${(err as Error).message})`,
    { issuer },
  );
}

/** The person a verified token names, with role and approver groups mapped from their IdP groups. */
export function personOf(config: OidcConfig, issuer: string, claims: JWTPayload): VerifiedPerson {
  const subject = claims.sub as string;
  const email = typeof claims.email === 'string' ? claims.email : undefined;
  if (config.personClaim === 'email') {
    if (!email) {
      throw invalid(
        'claim',
        'it carries no email claim (personClaim is email: ask for the email scope, or use personClaim: sub)',
        issuer,
      );
    }
    if (claims.email_verified === false) {
      throw invalid('claim', `the IdP says the email ${email} is not verified`, issuer);
    }
  }
  const raw = claims[config.groupsClaim];
  const groups = (Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : []).filter(
    (g): g is string => typeof g === 'string' && g.length > 0,
  );
  const displayName = typeof claims.name === 'string' ? claims.name : undefined;
  return {
    issuer,
    subject,
    name: config.personClaim === 'email' ? (email as string) : subject,
    ...(displayName ? { displayName } : {}),
    ...(email ? { email } : {}),
    groups,
    role: roleOf(config, groups),
    approverGroups: config.approverGroups.filter((g) => groups.includes(g)),
  };
}

/** The highest role any of the groups maps to. */
export function roleOf(config: OidcConfig, groups: readonly string[]): ApiRole | null {
  for (const role of ['admin', 'approver', 'auditor'] as const) {
    if ((config.roles[role] ?? []).some((g) => groups.includes(g))) return role;
  }
  return null;
}
