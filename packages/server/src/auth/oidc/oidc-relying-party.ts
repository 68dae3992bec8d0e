import { createHash, randomBytes } from 'node:crypto';
import { WardenError } from '@warden/core';
import type { OidcConfig } from './auth-config.js';
import { type OidcDiscovery, type OidcMetadata, unavailable } from './oidc-discovery.js';

/** The IdP's token endpoint answer (RFC 6749 §5.1; OpenID Connect adds id_token). */
export interface IdpTokens {
  readonly idToken: string;
  readonly refreshToken?: string;
}

/** A device authorization the IdP started (RFC 8628 §3.2). */
export interface IdpDeviceAuthorization {
  readonly deviceCode: string;
  readonly userCode: string;
  readonly verificationUri: string;
  readonly verificationUriComplete: string | null;
  readonly expiresIn: number;
  readonly interval: number;
}

/** What a device flow poll found: still pending (poll after `interval` s) or the tokens. */
export type DevicePoll =
  | { readonly pending: true; readonly interval: number }
  | { readonly pending: false; readonly tokens: IdpTokens };

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** A PKCE verifier and its S256 challenge (RFC 7636). */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/**
 * This server as the IdP's confidential client: builds the authorization request and calls the token and
 * device endpoints with its client credentials (client_secret_basic, or client_secret_post when the IdP
 * announces only that). Failures name the issuer and what the IdP said.
 */
export class OidcRelyingParty {
  readonly #config: OidcConfig;
  readonly #discovery: OidcDiscovery;

  constructor(config: OidcConfig, discovery: OidcDiscovery) {
    this.#config = config;
    this.#discovery = discovery;
  }

  /** The authorization request URL (code flow, PKCE S256, state and nonce). */
  async authorizationUrl(p: {
    redirectUri: string;
    state: string;
    nonce: string;
    challenge: string;
  }): Promise<string> {
    const metadata = await this.#discovery.metadata();
    const url = new URL(metadata.authorization_endpoint);
    url.searchParams.set('client_id', this.#config.clientId);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', this.#config.scopes.join(' '));
    url.searchParams.set('redirect_uri', p.redirectUri);
    url.searchParams.set('state', p.state);
    url.searchParams.set('nonce', p.nonce);
    url.searchParams.set('code_challenge', p.challenge);
    url.searchParams.set('code_challenge_method', 'S256');
    return url.toString();
  }

  /** Exchanges an authorization code (with its PKCE verifier) for tokens. */
  async exchangeCode(p: { code: string; redirectUri: string; verifier: string }): Promise<IdpTokens> {
    const { status, body } = await this.#token({
      grant_type: 'authorization_code',
      code: p.code,
      redirect_uri: p.redirectUri,
      code_verifier: p.verifier,
    });
    if (status !== 200) throw this.#denied('the authorization code was refused', body);
    return this.#tokens(body);
  }

  /** Starts a device authorization at the IdP (RFC 8628). */
  async startDevice(): Promise<IdpDeviceAuthorization> {
    const metadata = await this.#discovery.metadata();
    if (!metadata.device_authorization_endpoint) {
      throw unavailable(
        this.#config.issuer,
        'it announces no device_authorization_endpoint (enable the device authorization grant for this client)',
      );
    }
    const { status, body } = await this.#post(metadata, metadata.device_authorization_endpoint, {
      scope: this.#scopesWithOffline(metadata),
    });
    if (status !== 200 || typeof body.device_code !== 'string' || typeof body.user_code !== 'string') {
      throw this.#denied('the device authorization was refused', body);
    }
    return {
      deviceCode: body.device_code,
      userCode: body.user_code,
      verificationUri: String(body.verification_uri ?? body.verification_url ?? ''),
      verificationUriComplete:
        typeof body.verification_uri_complete === 'string' ? body.verification_uri_complete : null,
      expiresIn: Number(body.expires_in ?? 600),
      interval: Number(body.interval ?? 5),
    };
  }

  /** Polls the token endpoint for a device code: pending while the person has not finished. */
  async pollDevice(deviceCode: string): Promise<DevicePoll> {
    const { status, body } = await this.#token({ grant_type: DEVICE_GRANT, device_code: deviceCode });
    if (status === 200) return { pending: false, tokens: this.#tokens(body) };
    if (body.error === 'authorization_pending') return { pending: true, interval: 5 };
    if (body.error === 'slow_down') return { pending: true, interval: 10 };
    throw this.#denied('the device sign-in ended', body);
  }

  /** New tokens for an IdP refresh token: the ID token carries the person's groups as they are now. */
  async refresh(refreshToken: string): Promise<IdpTokens> {
    const { status, body } = await this.#token({ grant_type: 'refresh_token', refresh_token: refreshToken });
    if (status !== 200) throw this.#denied('the refresh token was refused', body);
    return this.#tokens(body, refreshToken);
  }

  #scopesWithOffline(metadata: OidcMetadata & { scopes_supported?: string[] }): string {
    const scopes = [...this.#config.scopes];
    if (metadata.scopes_supported?.includes('offline_access') && !scopes.includes('offline_access')) {
      scopes.push('offline_access');
    }
    return scopes.join(' ');
  }

  #tokens(body: Record<string, unknown>, previousRefresh?: string): IdpTokens {
    if (typeof body.id_token !== 'string') {
      throw new WardenError(
        'ID_TOKEN_INVALID',
        `the identity provider ${this.#config.issuer} answered without an ID token (is "openid" among auth.oidc.scopes?)`,
        { reason: 'missing' },
      );
    }
    const refreshToken = typeof body.refresh_token === 'string' ? body.refresh_token : previousRefresh;
    return { idToken: body.id_token, ...(refreshToken ? { refreshToken } : {}) };
  }

  #denied(what: string, body: Record<string, unknown>): WardenError {
    const error = typeof body.error === 'string' ? body.error : 'unknown_error';
    const description = typeof body.error_description === 'string' ? `: ${body.error_description}` : '';
    if (error === 'invalid_client' || error === 'unauthorized_client') {
      return unavailable(
        this.#config.issuer,
        `it refused this server's client credentials (${error}${description}); check auth.oidc.clientId and clientSecret`,
      );
    }
    return new WardenError(
      'SSO_DENIED',
      `${what} by the identity provider ${this.#config.issuer} (${error}${description})`,
      {
        reason: error,
      },
    );
  }

  async #token(params: Record<string, string>) {
    const metadata = await this.#discovery.metadata();
    return this.#post(metadata, metadata.token_endpoint, params);
  }

  async #post(
    metadata: OidcMetadata,
    url: string,
    params: Record<string, string>,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const methods = metadata.token_endpoint_auth_methods_supported;
    const basic =
      !methods || methods.includes('client_secret_basic') || !methods.includes('client_secret_post');
    const form = new URLSearchParams(params);
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (basic) {
      // RFC 6749 §2.3.1: each part form-encoded before Basic encoding.
      const id = encodeURIComponent(this.#config.clientId);
      const secret = encodeURIComponent(this.#config.clientSecret);
      headers.authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    } else {
      form.set('client_id', this.#config.clientId);
      form.set('client_secret', this.#config.clientSecret);
    }
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers,
        body: form.toString(),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      throw unavailable(this.#config.issuer, `${url} could not be reached: ${(err as Error).message}`);
    }
    let body: Record<string, unknown>;
    try {
      body = (await response.json()) as Record<string, unknown>;
    } catch {
      throw unavailable(this.#config.issuer, `${url} answered HTTP ${response.status} without JSON`);
    }
    if (response.status >= 500) {
      throw unavailable(this.#config.issuer, `${url} answered HTTP ${response.status}`);
    }
    return { status: response.status, body: body ?? {} };
  }
}
