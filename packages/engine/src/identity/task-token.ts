import { WardenError } from '@warden/core';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { TASK_TOKEN_AUDIENCE, TASK_TOKEN_ISSUER, type TaskSigningKey } from './task-signing-key.js';

/**
 * A Warden task token is a JWT (RFC 7519) signed EdDSA. Its claims:
 *
 * - `iss` TASK_TOKEN_ISSUER, `aud` TASK_TOKEN_AUDIENCE, `jti` (UUIDv7), `iat`, `nbf`, `exp`;
 * - `sub`: the initiator's subject — the person (or the subject a trusted backend vouches for) on whose
 *   behalf the task runs, as in RFC 8693 delegation, where `sub` stays the principal of the work;
 * - `task_id`, `session`, `agent` (the agent holding this token), `parent_jti` (the token it was exchanged
 *   from, if any), `initiator` `{ method, issuer?, subject, name, key_id? }`;
 * - `act` (RFC 8693 §4.1): the actor chain. The outermost `act` is the current actor — the token's
 *   agent — and each nested `act` a prior actor: the agent that delegated to the one enclosing it, with
 *   the key id it exchanged under (`key_id`). So a grandchild's token reads
 *   `act: { sub: "grandchild", act: { sub: "child", key_id, act: { sub: "root", key_id } } }`, and its
 *   calls' `delegationChain` is the prior actors, nearest first: `["child", "root"]`.
 */
export interface TaskClaims {
  readonly tokenId: string;
  readonly taskId: string;
  readonly session: string;
  readonly agent: string;
  readonly initiator: TaskInitiator;
  /** The prior actors, nearest first (the call's `delegationChain` order). */
  readonly chain: readonly ChainLink[];
  readonly parentTokenId?: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
}

/** Who started the task, and how Warden knows: an ID token Warden verified, or a trusted service key. */
export interface TaskInitiator {
  readonly method: 'oidc' | 'api_key';
  /** The identity provider (method `oidc`). */
  readonly issuer?: string;
  readonly subject: string;
  /** The display name: the `triggeredBy` of the task's calls. */
  readonly name: string;
  /** The service key that vouched for the person (method `api_key`). */
  readonly keyId?: string;
}

/** One prior actor of the chain: the agent that delegated, and the key it exchanged the token with. */
export interface ChainLink {
  readonly agent: string;
  readonly keyId?: string;
}

/** Why a presented token was refused (recorded as `identity.refused` `data.reason`). */
export type RefusalReason =
  | 'malformed'
  | 'algorithm'
  | 'key'
  | 'signature'
  | 'issuer'
  | 'audience'
  | 'expired'
  | 'not_yet_valid'
  | 'claims'
  | 'agent'
  | 'chain'
  | 'mismatch'
  | 'session';

/** The longest chain a token carries (the call's delegationChain bound). */
export const MAX_CHAIN = 64;

const name = z.string().min(1).max(200);
type ActClaim = { sub: string; key_id?: string; act?: ActClaim };
const ActSchema: z.ZodType<ActClaim> = z.lazy(() =>
  z.object({ sub: name, key_id: z.string().min(1).max(200).optional(), act: ActSchema.optional() }),
);
const ClaimsSchema = z.object({
  jti: z.string().min(1).max(200),
  sub: z.string().min(1).max(500),
  iat: z.number(),
  exp: z.number(),
  task_id: z.string().min(1).max(200),
  session: z.string().min(1).max(200),
  agent: name,
  parent_jti: z.string().min(1).max(200).optional(),
  initiator: z.object({
    method: z.enum(['oidc', 'api_key']),
    issuer: z.string().min(1).max(2_000).optional(),
    subject: z.string().min(1).max(500),
    name: z.string().min(1).max(500),
    key_id: z.string().min(1).max(200).optional(),
  }),
  act: ActSchema,
});

/** Signs a token for `claims` with the task key. */
export async function signTaskToken(key: TaskSigningKey, claims: TaskClaims): Promise<string> {
  let act: ActClaim | undefined;
  // Built from the innermost (the first actor) outwards; the outermost is the token's own agent.
  for (const link of [...claims.chain].reverse()) {
    act = { sub: link.agent, ...(link.keyId ? { key_id: link.keyId } : {}), ...(act ? { act } : {}) };
  }
  const i = claims.initiator;
  return new SignJWT({
    task_id: claims.taskId,
    session: claims.session,
    agent: claims.agent,
    ...(claims.parentTokenId ? { parent_jti: claims.parentTokenId } : {}),
    initiator: {
      method: i.method,
      ...(i.issuer ? { issuer: i.issuer } : {}),
      subject: i.subject,
      name: i.name,
      ...(i.keyId ? { key_id: i.keyId } : {}),
    },
    act: { sub: claims.agent, ...(act ? { act } : {}) },
  })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: key.kid })
    .setIssuer(TASK_TOKEN_ISSUER)
    .setAudience(TASK_TOKEN_AUDIENCE)
    .setSubject(i.subject)
    .setJti(claims.tokenId)
    .setIssuedAt(Math.floor(claims.issuedAt.getTime() / 1000))
    .setNotBefore(Math.floor(claims.issuedAt.getTime() / 1000))
    .setExpirationTime(Math.floor(claims.expiresAt.getTime() / 1000))
    .sign(key.privateKey);
}

/**
 * A refusal: TASK_TOKEN_INVALID with the reason and the token's jti — `tokenId` once its signature
 * verified (a token Warden issued), `claimedTokenId` when it was only read from an unverified token
 * (anyone can write one, so it must never pass for the id of a token Warden issued).
 */
export function refused(
  reason: RefusalReason,
  message: string,
  tokenId?: string,
  verified = true,
): WardenError {
  return new WardenError('TASK_TOKEN_INVALID', `task token refused: ${message}`, {
    reason,
    ...(tokenId ? (verified ? { tokenId } : { claimedTokenId: shown(tokenId, 200) }) : {}),
  });
}

/**
 * An unverified header value as a refusal message may echo it: control and format characters removed,
 * at most `max` characters (attacker text must not forge lines in a log or flood the trail).
 */
export function shown(value: unknown, max = 64): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value ?? null);
  const clean = text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** The jti of a token, read without trusting it (for the refusal record only), or undefined. */
export function unverifiedTokenId(token: string): string | undefined {
  try {
    const jti = decodeJwt(token).jti;
    return typeof jti === 'string' && jti.length <= 200 ? jti : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies a token's signature, header and time claims and reads its claims. Throws TASK_TOKEN_INVALID
 * (`details.reason`): another algorithm (`none` included), another `kid`, a bad signature, another issuer
 * or audience, expired, not yet valid, or claims that do not make a chain (the outermost actor must be
 * the token's agent; an agent appears once). Whether the presenting agent is the token's is the caller's.
 */
export async function verifyTaskToken(key: TaskSigningKey, token: string): Promise<TaskClaims> {
  if (typeof token !== 'string' || token.length === 0 || token.length > 16_384) {
    throw refused('malformed', 'not a compact JWT of a sensible size');
  }
  const jti = unverifiedTokenId(token);
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw refused('malformed', 'not a compact JWT', jti, false);
  }
  if (header.alg !== 'EdDSA') {
    throw refused('algorithm', `algorithm "${shown(header.alg)}" is not accepted (EdDSA only)`, jti, false);
  }
  if (header.kid !== key.kid) {
    throw refused(
      'key',
      `signed under key "${shown(header.kid)}", not this Warden's (${key.kid})`,
      jti,
      false,
    );
  }
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, key.publicKey, {
      algorithms: ['EdDSA'],
      issuer: TASK_TOKEN_ISSUER,
      audience: TASK_TOKEN_AUDIENCE,
      requiredClaims: ['jti', 'sub', 'iat', 'exp', 'nbf'],
      // Instances on one database may disagree on the time by a little.
      clockTolerance: 5,
    }));
  } catch (err) {
    const refusal = joseRefusal(err, jti);
    // jose checks the claims only once the signature verified: then the jti is one this Warden signed.
    if (err instanceof errors.JWTExpired || err instanceof errors.JWTClaimValidationFailed) throw refusal;
    // Not verified: its jti is only a claim.
    const { tokenId, ...details } = refusal.details;
    throw new WardenError('TASK_TOKEN_INVALID', refusal.message, {
      ...details,
      ...(typeof tokenId === 'string' ? { claimedTokenId: shown(tokenId, 200) } : {}),
    });
  }
  const parsed = ClaimsSchema.safeParse(payload);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'claims'}: ${i.message}`);
    throw refused('claims', `its claims are malformed (${problems.join('; ')})`, jti);
  }
  const c = parsed.data;
  const chain: ChainLink[] = [];
  if (c.act.sub !== c.agent) {
    throw refused('chain', `its current actor (${c.act.sub}) is not its agent (${c.agent})`, c.jti);
  }
  for (let a = c.act.act; a; a = a.act) {
    chain.push({ agent: a.sub, ...(a.key_id ? { keyId: a.key_id } : {}) });
    if (chain.length > MAX_CHAIN) throw refused('chain', `its chain is longer than ${MAX_CHAIN}`, c.jti);
  }
  const agents = [c.agent, ...chain.map((l) => l.agent)];
  if (new Set(agents).size !== agents.length) {
    throw refused('chain', 'an agent appears twice in its chain', c.jti);
  }
  if (chain.length > 0 !== (c.parent_jti !== undefined)) {
    throw refused('chain', 'its chain and its parent token do not agree', c.jti);
  }
  if (c.sub !== c.initiator.subject) {
    throw refused('claims', 'its subject is not its initiator', c.jti);
  }
  return {
    tokenId: c.jti,
    taskId: c.task_id,
    session: c.session,
    agent: c.agent,
    initiator: {
      method: c.initiator.method,
      ...(c.initiator.issuer ? { issuer: c.initiator.issuer } : {}),
      subject: c.initiator.subject,
      name: c.initiator.name,
      ...(c.initiator.key_id ? { keyId: c.initiator.key_id } : {}),
    },
    chain,
    ...(c.parent_jti ? { parentTokenId: c.parent_jti } : {}),
    issuedAt: new Date(c.iat * 1000),
    expiresAt: new Date(c.exp * 1000),
  };
}

function joseRefusal(err: unknown, jti: string | undefined): WardenError {
  if (err instanceof errors.JWTExpired) return refused('expired', 'it has expired', jti);
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return refused('signature', 'its signature does not verify', jti);
  if (err instanceof errors.JOSEAlgNotAllowed)
    return refused('algorithm', 'its algorithm is not accepted', jti);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss')
      return refused('issuer', `it was issued by another issuer, not ${TASK_TOKEN_ISSUER}`, jti);
    if (err.claim === 'aud') return refused('audience', `its audience is not ${TASK_TOKEN_AUDIENCE}`, jti);
    if (err.claim === 'nbf' || err.claim === 'iat')
      return refused('not_yet_valid', 'it is not valid yet', jti);
    return refused('claims', `claim ${err.claim} is invalid (${err.reason})`, jti);
  }
  return refused('malformed', err instanceof Error ? err.message : 'unreadable', jti);
}
