import type { Engine, PolicySync } from '@warden/engine';
import type { McpHttpGateway } from '@warden/mcp';
import type { Authenticator } from './auth/authenticator.js';
import type { OidcService } from './auth/oidc/oidc-service.js';
import type { PersonDirectory } from './auth/person-directory.js';
import type { RateLimiter } from './auth/rate-limiter.js';
import type { SignedOutSessions } from './auth/signed-out-sessions.js';
import type { DeferredCompletions } from './completions/deferred-completions.js';
import type { ServerConfig } from './config/server-config.js';
import type { EventHub } from './live/event-hub.js';
import type { SseRegistry } from './live/sse-stream.js';
import type { ServerMetrics } from './metrics/server-metrics.js';
import type { CallTracer } from './telemetry/call-tracer.js';

/** The services every route can reach. One per server instance. */
export interface ServerContext {
  readonly engine: Engine;
  readonly config: ServerConfig;
  readonly auth: Authenticator;
  /** Dashboard sign-ins signed out before they expired, on any instance. */
  readonly signedOut: SignedOutSessions;
  /** The OpenID Connect identity provider (`auth.oidc`); undefined when SSO is not configured. */
  readonly oidc?: OidcService | undefined;
  /** People signed in through the IdP: their current role and groups, read on each request (cached ≤2 s). */
  readonly people: PersonDirectory;
  readonly hub: EventHub;
  readonly sse: SseRegistry;
  readonly metrics: ServerMetrics;
  readonly tracer: CallTracer | undefined;
  readonly policySync: PolicySync | undefined;
  /** Refuses failed authentications per client address. */
  readonly authFailures: RateLimiter;
  /** Limits requests per API key, when configured. */
  readonly keyLimiter: RateLimiter | undefined;
  /** The MCP gateway at /mcp, when the config names upstream servers. */
  mcp?: McpHttpGateway;
  /** Completions of the proxy and the gateway, recorded after their answer with the next decision's commit. */
  readonly completions: DeferredCompletions;
  /** Set once shutdown begins: new work is refused with SHUTTING_DOWN. */
  readonly state: { shuttingDown: boolean };
}
