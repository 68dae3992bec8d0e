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

/** How old an ID token may be at a sign-in (dashboard, device flow, refresh): it was just issued. */
export const SIGN_IN_MAX_AGE_SECONDS = 600;

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
 * audience, azp, expired, not_yet_valid, too_old, signature, algorithm, nonce, claim, email_unverified).
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
  // OpenID Connect Core §3.1.3.7: a token for several audiences must say which party it was issued to.
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (aud.length > 1 && payload.azp === undefined) {
    throw invalid('azp', `it names several audiences (${aud.join(', ')}) but no azp`, issuer);
  }
  if (payload.azp !== undefined && !audiences.includes(String(payload.azp))) {
    throw invalid(
      'azp',
      `it was issued to ${JSON.stringify(payload.azp)} (azp), not one of ${audiences.join(', ')}`,
      issuer,
    );
  }
  if (options.nonce !== undefined && payload.nonce !== options.nonce) {
    throw invalid(
      'nonce',
      'its nonce is not the one this sign-in sent (a replayed or swapped token)',
      issuer,
    );
  }
  // The configured (normalised) issuer, not the token's spelling: people are looked up by it.
  return personOf(config, config.issuer, payload);
}

function refusal(err: unknown, issuer: string, audiences: readonly string[]): WardenError {
  if (err instanceof WardenError) return err;
  if (err instanceof errors.JWTExpired) {
    // jose reports a token past maxTokenAge as expired by its `iat`.
    if (err.claim === 'iat') return invalid('too_old', `it was issued too long ago (${err.message})`, issuer);
    return invalid('expired', `it expired (${err.message})`, issuer);
  }
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
  const verified = claims.email_verified === true || claims.email_verified === 'true';
  if (config.personClaim === 'email') {
    if (!email) {
      throw invalid(
        'claim',
        'it carries no email claim (personClaim is email: ask for the email scope, or use personClaim: sub)',
        issuer,
      );
    }
    if (!verified && !config.trustUnverifiedEmail) {
      throw invalid(
        'email_unverified',
        `the IdP does not say the email ${email} is verified (email_verified is ${JSON.stringify(claims.email_verified ?? null)}), so it cannot name a person; verify it at the IdP, use personClaim: sub, or (only for an IdP that issues verified emails alone) set auth.oidc.trustUnverifiedEmail: true`,
        issuer,
      );
    }
  }
  // An unverified email is not kept (Slack maps people by it) unless the config trusts them all.
  const trustedEmail = email && (verified || config.trustUnverifiedEmail) ? email : undefined;
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
    ...(trustedEmail ? { email: trustedEmail } : {}),
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
