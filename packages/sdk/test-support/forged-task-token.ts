import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';

/**
 * A forgery of a genuine task token: the same header (`kid` included) and claims, `changes` applied on
 * top (a more senior initiator, say), signed with an Ed25519 key that is not Warden's. What an agent
 * that saw one real token could make; every door must refuse it.
 */
export async function forgeTaskToken(
  genuine: string,
  changes: Record<string, unknown> = {},
): Promise<string> {
  const header = decodeProtectedHeader(genuine);
  const claims = { ...decodeJwt(genuine), ...changes };
  const { privateKey } = generateKeyPairSync('ed25519');
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', ...(header.kid ? { kid: header.kid } : {}) })
    .sign(privateKey);
}
