import { WardenError } from '@warden/core';
import { type GatewayConfig, McpHttpGateway } from '@warden/mcp';
import { Warden } from '@warden/sdk';
import type { FastifyInstance } from 'fastify';
import { authorize } from '../auth/authorize-request.js';
import { headerValue, triggeredByHeader } from '../llm/llm-call.js';
import { waitForApproval } from '../routes/approval-wait.js';
import type { ServerContext } from '../server-context.js';
import { GatewayEngineTransport } from './gateway-transport.js';
import { mcpTracing, TracedEngineTransport } from './mcp-tracing.js';

/**
 * The MCP gateway on this server's engine: each MCP session acts as the agent of the key that opened it,
 * and a held call is woken by the event hub (a decision on any instance reaches it within milliseconds).
 */
export function createMcpGateway(
  ctx: ServerContext,
  config: GatewayConfig,
  log: {
    warn: (message: string) => void;
    /** A line a stdio upstream wrote to its stderr. */
    upstreamStderr: (server: string, line: string) => void;
  },
): McpHttpGateway {
  // While sessions are open, a policy or grant change (on any instance) tells them to list again.
  let stopListening: (() => void) | undefined;
  const tracer = ctx.tracer;
  const gateway: McpHttpGateway = new McpHttpGateway(
    config,
    (caller, session) => {
      const options = {
        agent: caller.agent,
        keyId: caller.keyId,
        waitForApproval: (id: string, ms: number, signal?: AbortSignal) =>
          waitForApproval(ctx, id, ms, signal),
      };
      // Results recorded in the background share the next decision's commit (gateway-transport.ts).
      const hold = !config.durableResults;
      const transport = tracer
        ? new TracedEngineTransport(tracer, ctx.completions, hold, ctx.engine, options)
        : new GatewayEngineTransport(ctx.completions, hold, ctx.engine, options);
      return new Warden(transport, {
        ...(session !== undefined ? { context: { session } } : {}),
        ...(caller.taskToken !== undefined ? { taskToken: caller.taskToken } : {}),
      });
    },
    {
      ...(tracer ? { tracing: mcpTracing(tracer) } : {}),
      // A bad token is refused when the session would open (and recorded), not at its first call.
      verifyTaskToken: async (caller) => {
        const claims = await ctx.engine.tasks.verify(caller.taskToken, {
          agent: caller.agent,
          keyId: caller.keyId,
        });
        // Headers that disagree with the token would have every call refused: refuse the session instead.
        const off = [
          caller.session !== undefined && caller.session !== claims.session && 'Warden-Session',
          caller.triggeredBy !== undefined &&
            caller.triggeredBy !== claims.initiator.name &&
            'Warden-Triggered-By',
        ].filter((h): h is string => typeof h === 'string');
        if (off.length > 0) {
          throw new WardenError(
            'TASK_TOKEN_MISMATCH',
            `the ${off.join(' and ')} header${off.length > 1 ? 's disagree' : ' disagrees'} with the task token (session ${claims.session}, initiator ${claims.initiator.name}): leave ${off.length > 1 ? 'them' : 'it'} out under a task token`,
          );
        }
      },
      onError: (m) => log.warn(`MCP gateway: ${m}`),
      onUpstreamStderr: log.upstreamStderr,
      onOpenSessions: (count) => {
        if (count > 0 && !stopListening) {
          stopListening = ctx.hub.onEvent(
            (e) => {
              if (TOOL_LIST_EVENTS.has(e.type)) gateway.notifyToolsChanged();
            },
            { keepAlive: true },
          );
        } else if (count === 0 && stopListening) {
          stopListening();
          stopListening = undefined;
        }
      },
    },
  );
  return gateway;
}

/** Events after which an agent may be shown other tools. */
const TOOL_LIST_EVENTS = new Set(['policy.changed', 'grant.added', 'grant.revoked']);

/**
 * `/mcp`: the streamable HTTP transport of the MCP gateway. Each request is authenticated with an agent
 * key (Authorization: Bearer) before the MCP transport sees it; errors before that are the API's JSON.
 */
export function registerMcpRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.route({
    method: ['GET', 'POST', 'DELETE'],
    url: '/mcp',
    handler: async (request, reply) => {
      if (!ctx.mcp) {
        throw new WardenError(
          'NOT_FOUND',
          'the MCP gateway is not configured on this server: add mcp.servers to the config file (see docs/mcp.md)',
        );
      }
      if (ctx.state.shuttingDown) {
        throw new WardenError('SHUTTING_DOWN', 'the server is shutting down; retry against another instance');
      }
      const principal = await authorize(ctx, request, ['agent']);
      const session = headerValue(request, 'warden-session');
      const triggeredBy = triggeredByHeader(request);
      const taskToken = headerValue(request, 'warden-task-token');
      reply.hijack();
      try {
        await ctx.mcp.handle(request.raw, reply.raw, request.body, {
          keyId: principal.keyId,
          agent: principal.id,
          ...(session ? { session } : {}),
          ...(triggeredBy ? { triggeredBy } : {}),
          ...(taskToken ? { taskToken } : {}),
        });
      } catch (err) {
        request.log.error({ err }, 'MCP request failed');
        if (!reply.raw.headersSent) {
          reply.raw.writeHead(500, { 'content-type': 'application/json' });
          reply.raw.end(
            JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'internal error' }, id: null }),
          );
        } else reply.raw.end();
      }
    },
  });
}
