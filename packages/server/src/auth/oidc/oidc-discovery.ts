import { WardenError } from '@warden/core';
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { normalIssuer } from './auth-config.js';

/** The parts of an issuer's discovery document (OpenID Connect Discovery 1.0) Warden uses. */
export interface OidcMetadata {
  readonly issuer: string;
  readonly authorization_endpoint: string;
  readonly token_endpoint: string;
  readonly jwks_uri: string;
  readonly device_authorization_endpoint?: string;
  readonly id_token_signing_alg_values_supported?: readonly string[];
  readonly token_endpoint_auth_methods_supported?: readonly string[];
}

const REFRESH_MS = 3_600_000;

/**
 * An issuer's discovery document and keys, fetched lazily (a server starts while its IdP is down, and
 * sign-in says so) and kept for an hour; a failed fetch is not kept, so the next sign-in tries again.
 */
export class OidcDiscovery {
  readonly #issuer: string;
  #cached: { at: number; metadata: OidcMetadata; jwks: JWTVerifyGetKey } | undefined;
  #loading: Promise<{ metadata: OidcMetadata; jwks: JWTVerifyGetKey }> | undefined;

  constructor(issuer: string) {
    this.#issuer = normalIssuer(issuer);
  }

  get issuer(): string {
    return this.#issuer;
  }

  /** The discovery document, or IDP_UNAVAILABLE naming the issuer and what failed. */
  async metadata(): Promise<OidcMetadata> {
    return (await this.#load()).metadata;
  }

  /** The issuer's signing keys (jose's remote key set: refetched when an unknown `kid` arrives). */
  async keys(): Promise<JWTVerifyGetKey> {
    return (await this.#load()).jwks;
  }

  async #load(): Promise<{ metadata: OidcMetadata; jwks: JWTVerifyGetKey }> {
    if (this.#cached && Date.now() - this.#cached.at < REFRESH_MS) return this.#cached;
    this.#loading ??= this.#fetch().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #fetch(): Promise<{ metadata: OidcMetadata; jwks: JWTVerifyGetKey }> {
    const url = `${this.#issuer}/.well-known/openid-configuration`;
    let doc: unknown;
    try {
      const response = await fetch(url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      doc = await response.json();
    } catch (err) {
      throw unavailable(
        this.#issuer,
        `its discovery document ${url} could not be read: ${(err as Error).message}`,
      );
    }
    const m = doc as Partial<OidcMetadata>;
    for (const field of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
      if (typeof m?.[field] !== 'string') {
        throw unavailable(this.#issuer, `its discovery document ${url} has no ${field}`);
      }
    }
    // OpenID Connect Discovery §4.3: the document must name exactly the issuer it was fetched for.
    if (normalIssuer(m.issuer as string) !== this.#issuer) {
      throw unavailable(
        this.#issuer,
        `its discovery document names another issuer (${m.issuer}); set auth.oidc.issuer to exactly the issuer the IdP names`,
      );
    }
    const metadata = m as OidcMetadata;
    const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: 10_000 });
    this.#cached = { at: Date.now(), metadata, jwks };
    return this.#cached;
  }
}

/** IDP_UNAVAILABLE for an issuer. */
export function unavailable(issuer: string, what: string): WardenError {
  return new WardenError('IDP_UNAVAILABLE', `the identity provider ${issuer} is unavailable: ${what}`, {
    issuer,
  });
}
