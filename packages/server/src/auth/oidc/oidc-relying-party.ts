import type { OidcConfig } from './auth-config.js';
import type { OidcDiscovery } from './oidc-discovery.js';

/** This server as the IdP's client: the token and device endpoints, with its client credentials. */
export class OidcRelyingParty {
  readonly #config: OidcConfig;
  readonly #discovery: OidcDiscovery;

  constructor(config: OidcConfig, discovery: OidcDiscovery) {
    this.#config = config;
    this.#discovery = discovery;
  }
}
