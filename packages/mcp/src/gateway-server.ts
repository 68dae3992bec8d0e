import type { Server as McpServer } from '@modelcontextprotocol/sdk/server/index.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  ListToolsRequestSchema,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { isWardenError } from '@warden/core';
import type { ApprovalPending, CallContext, Warden } from '@warden/sdk';
import { exposedName, policyName, splitExposed } from './tool-names.js';
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
}

/**
 * One MCP server in front of every upstream: tools namespaced per upstream, listed only when the
 * connection's agent could ever use them, and every call decided by Warden before it is forwarded. A
 * refusal is a tool result with `isError` and the reason, never a protocol failure.
 */
export function createGatewayServer(o: GatewayOptions): McpServer {
  const server = new Server(
    { name: 'warden-gateway', version: '0.1.0' },
    {
      capabilities: { tools: { listChanged: true } },
      instructions:
        'Every tool call goes through Warden: some need a human approval first (the call is held open while it waits), some are refused with the reason.',
    },
  );
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: await listVisible(o) }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name, arguments: args = {} } = request.params;
    const target = splitExposed(name);
    if (!target || !o.pool.has(target.server)) {
      return refusal(
        `no tool named ${name}: list the tools to see what this gateway offers`,
        'MCP_TOOL_UNKNOWN',
      );
    }
    const progressToken = request.params._meta?.progressToken;
    const notifyProgress =
      progressToken === undefined
        ? undefined
        : (progress: number, message: string) =>
            extra
              .sendNotification({
                method: 'notifications/progress',
                params: { progressToken, progress, message },
              })
              .catch(() => {});
    let ticker: NodeJS.Timeout | undefined;
    const startWaiting = (p: ApprovalPending) => {
      if (!notifyProgress) return;
      const since = Date.now();
      const tell = () =>
        notifyProgress(
          Math.round((Date.now() - since) / 1000),
          `Waiting for a human to approve ${name} (approval ${p.approvalId}, expires ${p.expiresAt}): ${p.reasons.join('; ')}`,
        );
      void tell();
      ticker = setInterval(tell, o.progressEveryMs);
    };
    try {
      const call = { tool: policyName(target.server, target.tool), args };
      const ok = await o.warden
        .authorize(call, {
          context: o.context,
          approvalTimeoutMs: o.approvalWaitMs,
          signal: extra.signal,
          onApprovalPending: startWaiting,
        })
        .finally(() => clearInterval(ticker));
      return await o.warden.runAuthorized(
        ok,
        () =>
          o.pool.call(target.server, target.tool, args, {
            signal: extra.signal,
            ...(notifyProgress
              ? { onprogress: (p) => void notifyProgress(p.progress, p.message ?? '') }
              : {}),
          }),
        { failed: (r) => (r.isError ? errorText(r) : undefined), recordInBackground: !o.durableResults },
      );
    } catch (err) {
      if (isWardenError(err)) return refusal(err.message, err.code, err.details);
      o.onError?.(`tools/call ${name}: ${(err as Error).message}`);
      return refusal(`the gateway could not complete ${name}; the error is logged`, 'INTERNAL');
    }
  });
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

/** A refused or failed call as the model should see it: a tool result flagged as an error. */
function refusal(
  message: string,
  code: string,
  details: Readonly<Record<string, unknown>> = {},
): CallToolResult {
  const ids = Object.fromEntries(
    ['callId', 'approvalId', 'ruleId', 'session']
      .filter((k) => details[k] != null)
      .map((k) => [k, details[k]]),
  );
  return {
    content: [{ type: 'text', text: message }],
    isError: true,
    _meta: {
      'warden/code': code,
      ...Object.fromEntries(Object.entries(ids).map(([k, v]) => [`warden/${k}`, v])),
    },
  };
}

/** The text of an upstream's error result, for the audit's error field. */
function errorText(r: CallToolResult): string {
  const text = r.content
    .filter((c): c is { type: 'text'; text: string } => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
  return text === '' ? 'the tool reported an error' : text.slice(0, 2_000);
}
