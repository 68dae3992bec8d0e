/** The parts of `oidc-provider` (which ships no types) the test fixture uses. */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface ProviderClient {
    grantTypeAllowed(grant: string): boolean;
  }
  export interface ProviderAccount {
    accountId: string;
    claims(use?: string, scope?: string): Promise<Record<string, unknown>>;
  }
  export interface ProviderConfiguration {
    findAccount?(ctx: unknown, id: string): Promise<ProviderAccount | undefined>;
    issueRefreshToken?(ctx: unknown, client: ProviderClient, source: unknown): Promise<boolean>;
    expiresWithSession?(ctx: unknown, source: unknown): Promise<boolean>;
    clientBasedCORS?(ctx: unknown, origin: string, client: ProviderClient): boolean;
    pkce?: { required?(ctx: unknown, client: ProviderClient): boolean };
    [key: string]: unknown;
  }
  export default class Provider {
    constructor(issuer: string, configuration?: ProviderConfiguration);
    proxy: boolean;
    readonly issuer: string;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
  }
}
