import type { OidcConfig } from './auth-config.js';
import { type VerifiedPerson, type VerifyOptions, verifyIdToken } from './id-token-verifier.js';
import { OidcDiscovery } from './oidc-discovery.js';
import { OidcRelyingParty } from './oidc-relying-party.js';

/**
 * `ctx.oidc`: the configured identity provider. Verifies ID tokens (for sign-in and for other parts, such
 * as POST /v1/tasks) and speaks the IdP's endpoints as this server's client (code flow, device flow,
 * refresh). Discovery is lazy: the server starts while the IdP is down, and sign-in then says so.
 */
export class OidcService {
  readonly config: OidcConfig;
  readonly discovery: OidcDiscovery;
  readonly client: OidcRelyingParty;

  constructor(config: OidcConfig) {
    this.config = config;
    this.discovery = new OidcDiscovery(config.issuer);
    this.client = new OidcRelyingParty(config, this.discovery);
  }

  /** The configured issuer (as written in the config, without a trailing slash). */
  get issuer(): string {
    return this.config.issuer;
  }

  /**
   * Verifies an ID token from the configured issuer: ID_TOKEN_INVALID naming what is wrong (details.reason),
   * IDP_UNAVAILABLE when the issuer's discovery document or keys cannot be read. Audiences default to
   * this server's client id.
   */
  verifyIdToken(token: string, options: VerifyOptions = {}): Promise<VerifiedPerson> {
    return verifyIdToken(this.discovery, this.config, token, options);
  }
}

export type { VerifiedPerson, VerifyOptions };
