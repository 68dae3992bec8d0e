import { type Server as McpServer, Server, type Tool } from '@modelcontextprotocol/server';
import type { CallContext, Warden } from '@warden/sdk';
import type { GatewayTracing } from './call-trace.js';
import { handleCall } from './gateway-call.js';
import type { InFlightCalls } from './in-flight-calls.js';
import { PACKAGE_VERSION } from './package-version.js';
import { exposedName, policyName } from './tool-names.js';
import type { UpstreamPool } from './upstream-pool.js';

/** What one gateway connection needs: the upstreams, a Warden acting as the connection's agent, and its task. */
export interface GatewayOptions {
  readonly pool: UpstreamPool;
  readonly warden: Warden;
  /** The session, triggering human and delegation chain of every call on this connection. */
  readonly context: CallContext;
  /** How long a reviewed call is held for its decision (ms). */
  readonly approvalWaitMs: number;
  /** How often a held call tells the client it is still waiting (ms). */
  readonly progressEveryMs: number;
  /** Commit each result's record before replying (default: just after, so the reply waits on one commit only). */
  readonly durableResults?: boolean;
  readonly onError?: (message: string) => void;
  /** Where calls in hand are tracked, so shutting down can settle them. */
  readonly calls?: InFlightCalls;
  /** Spans for each call under the caller's `_meta` trace; without it the caller's context passes through. */
  readonly tracing?: GatewayTracing;
}

/**
 * One MCP server in front of every upstream: tools namespaced per upstream, listed only when the
 * connection's agent could ever use them, and every call decided by Warden before it is forwarded. A
 * refusal is a tool result with `isError` and the reason, never a protocol failure.
 */
export function createGatewayServer(o: GatewayOptions): McpServer {
  const server = new Server(
    { name: 'warden-gateway', version: PACKAGE_VERSION },
    {
      capabilities: { tools: { listChanged: true } },
      instructions:
        'Every tool call goes through Warden: some need a human approval first (the call is held open while it waits), some are refused with the reason.',
    },
  );
  server.setRequestHandler('tools/list', async () => ({ tools: await listVisible(o) }));
  server.setRequestHandler('tools/call', (request, ctx) => handleCall(o, request, ctx));
  return server;
}

/** Every upstream tool the agent could ever use, under its namespaced name. */
async function listVisible(o: GatewayOptions): Promise<Tool[]> {
  const all = await o.pool.tools();
  const visible = new Set(await o.warden.visibleTools(all.map((t) => policyName(t.server, t.tool.name))));
  return all
    .filter((t) => visible.has(policyName(t.server, t.tool.name)))
    .map((t) => ({ ...t.tool, name: exposedName(t.server, t.tool.name) }));
}
