import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server as McpServer } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Warden } from '@warden/sdk';
import type { GatewayConfig } from './gateway-config.js';
import { createGatewayServer } from './gateway-server.js';
import { UpstreamPool } from './upstream-pool.js';

/** Who opened an MCP session: the key it authenticated with and the agent the key belongs to. */
export interface McpCaller {
  readonly keyId: string;
  readonly agent: string;
  /** `Warden-Session` and `Warden-Triggered-By` of the initialize request, when sent. */
  readonly session?: string;
  readonly triggeredBy?: string;
}

interface Session {
  readonly keyId: string;
  readonly transport: StreamableHTTPServerTransport;
  readonly server: McpServer;
  readonly warden: Warden;
  lastUsed: number;
}

/** Sessions idle this long are closed (a client that vanished without DELETE). */
const IDLE_MS = 30 * 60_000;
/** At most this many open sessions per key: one misbehaving client cannot exhaust the server. */
const MAX_SESSIONS_PER_KEY = 64;

/**
 * The gateway over streamable HTTP (`/mcp` on the Warden server): one MCP session per client connection,
 * each bound to the key that opened it and acting as that key's agent. A request with another key, or
 * for a session that does not exist, is told the session is unknown (a key learns nothing of others').
 */
export class McpHttpGateway {
  readonly #config: GatewayConfig;
  readonly #pool: UpstreamPool;
  readonly #sessions = new Map<string, Session>();
  readonly #wardenFor: (caller: McpCaller, session: string) => Warden;
  readonly #onError: (message: string) => void;
  readonly #sweeper: NodeJS.Timeout;

  constructor(
    config: GatewayConfig,
    wardenFor: (caller: McpCaller, session: string) => Warden,
    o: { onError?: (message: string) => void } = {},
  ) {
    this.#config = config;
    this.#wardenFor = wardenFor;
    this.#onError = o.onError ?? (() => {});
    this.#pool = new UpstreamPool(config.servers, {
      onError: this.#onError,
      onToolsChanged: () => {
        for (const s of this.#sessions.values()) void s.server.sendToolListChanged().catch(() => {});
      },
    });
    this.#sweeper = setInterval(() => this.#sweep(), 60_000);
    this.#sweeper.unref();
  }

  /** How many MCP sessions are open. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Handles one HTTP request of the MCP streamable HTTP transport (POST, GET or DELETE). */
  async handle(req: IncomingMessage, res: ServerResponse, body: unknown, caller: McpCaller): Promise<void> {
    const id = header(req, 'mcp-session-id');
    if (id !== undefined) {
      const s = this.#sessions.get(id);
      if (!s || s.keyId !== caller.keyId)
        return jsonRpcError(res, 404, -32001, 'Session not found: initialize a new one');
      s.lastUsed = Date.now();
      return s.transport.handleRequest(req, res, body);
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      return jsonRpcError(
        res,
        400,
        -32000,
        'Bad Request: no Mcp-Session-Id; send an initialize request first',
      );
    }
    if ([...this.#sessions.values()].filter((s) => s.keyId === caller.keyId).length >= MAX_SESSIONS_PER_KEY) {
      return jsonRpcError(
        res,
        429,
        -32000,
        `this key has ${MAX_SESSIONS_PER_KEY} open MCP sessions; close some (DELETE /mcp)`,
      );
    }
    const mcpSession = randomUUID();
    const wardenSession = caller.session ?? `mcp-${mcpSession}`;
    const warden = this.#wardenFor(caller, wardenSession);
    const server = createGatewayServer({
      pool: this.#pool,
      warden,
      context: { session: wardenSession, ...(caller.triggeredBy ? { triggeredBy: caller.triggeredBy } : {}) },
      approvalWaitMs: this.#config.approvalWaitMs,
      progressEveryMs: this.#config.progressEveryMs,
      durableResults: this.#config.durableResults,
      onError: this.#onError,
    });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => mcpSession,
      onsessioninitialized: (sid) => {
        this.#sessions.set(sid, { keyId: caller.keyId, transport, server, warden, lastUsed: Date.now() });
      },
    });
    transport.onclose = () => {
      const s = this.#sessions.get(mcpSession);
      this.#sessions.delete(mcpSession);
      void s?.warden.close();
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  /** Closes every session and the upstream connections. */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    const open = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.allSettled(
      open.map(async (s) => {
        await s.server.close();
        await s.warden.close();
      }),
    );
    await this.#pool.close();
  }

  #sweep(): void {
    const cutoff = Date.now() - IDLE_MS;
    for (const [id, s] of this.#sessions) {
      if (s.lastUsed >= cutoff) continue;
      this.#sessions.delete(id);
      void s.server.close().catch(() => {});
    }
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}
