import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import { isInitializeRequest, type Server as McpServer } from '@modelcontextprotocol/server';
import { isWardenError, taskTokenProblem, type Warden } from '@warden/sdk';
import type { GatewayTracing } from './call-trace.js';
import type { GatewayConfig } from './gateway-config.js';
import { createGatewayServer } from './gateway-server.js';
import { InFlightCalls } from './in-flight-calls.js';
import { UpstreamPool } from './upstream-pool.js';

/** Who opened an MCP session: the key it authenticated with and the agent the key belongs to. */
export interface McpCaller {
  readonly keyId: string;
  readonly agent: string;
  /** `Warden-Session` and `Warden-Triggered-By` of the initialize request, when sent. */
  readonly session?: string;
  readonly triggeredBy?: string;
  /**
   * The `Warden-Task-Token` header of the request. On initialize it binds the MCP session to that task
   * (every call carries it); a later request of the session naming another token is refused.
   */
  readonly taskToken?: string;
}

interface Session {
  readonly keyId: string;
  /** The task token the session was opened with, if any: the only one its requests may carry. */
  readonly taskToken: string | undefined;
  readonly transport: NodeStreamableHTTPServerTransport;
  readonly server: McpServer;
  readonly warden: Warden;
  lastUsed: number;
  /** Requests whose response is still open (a held call, the notification stream). */
  active: number;
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
  readonly #wardenFor: (caller: McpCaller, session: string | undefined) => Warden;
  readonly #onError: (message: string) => void;
  readonly #onOpenSessions: (count: number) => void;
  readonly #sweeper: NodeJS.Timeout;
  readonly #calls = new InFlightCalls();
  readonly #tracing: GatewayTracing | undefined;
  readonly #verifyTaskToken: ((caller: McpCaller & { taskToken: string }) => Promise<void>) | undefined;

  constructor(
    config: GatewayConfig,
    wardenFor: (caller: McpCaller, session: string | undefined) => Warden,
    o: {
      onError?: (message: string) => void;
      onOpenSessions?: (count: number) => void;
      /** Each line a stdio upstream writes to stderr (default: this process's stderr). */
      onUpstreamStderr?: (server: string, line: string) => void;
      tracing?: GatewayTracing;
      /**
       * Verifies the task token of an initialize request before the session opens (the server's engine
       * does, recording a refusal); throws a WardenError to refuse it. Each call is verified again.
       */
      verifyTaskToken?: (caller: McpCaller & { taskToken: string }) => Promise<void>;
    } = {},
  ) {
    this.#tracing = o.tracing;
    this.#verifyTaskToken = o.verifyTaskToken;
    this.#config = config;
    this.#wardenFor = wardenFor;
    this.#onError = o.onError ?? (() => {});
    this.#onOpenSessions = o.onOpenSessions ?? (() => {});
    this.#pool = new UpstreamPool(config.servers, {
      onError: this.#onError,
      ...(config.maxMessageBytes ? { maxMessageBytes: config.maxMessageBytes } : {}),
      onToolsChanged: () => this.notifyToolsChanged(),
      ...(o.onUpstreamStderr ? { onStderr: o.onUpstreamStderr } : {}),
    });
    this.#sweeper = setInterval(() => this.#sweep(), 60_000);
    this.#sweeper.unref();
  }

  /** Tells every open session its tool list may have changed (a policy, grant or upstream change). */
  notifyToolsChanged(): void {
    for (const s of this.#sessions.values()) void s.server.sendToolListChanged().catch(() => {});
  }

  /** Handles one HTTP request of the MCP streamable HTTP transport (POST, GET or DELETE). */
  async handle(req: IncomingMessage, res: ServerResponse, body: unknown, caller: McpCaller): Promise<void> {
    const id = header(req, 'mcp-session-id');
    if (id !== undefined) {
      const s = this.#sessions.get(id);
      if (!s || s.keyId !== caller.keyId)
        return jsonRpcError(res, 404, -32001, 'Session not found: initialize a new one');
      // One MCP session is one task: a request naming another task's token (or a token, on a session
      // opened without one) is refused; one naming none goes on under the session's own.
      if (caller.taskToken !== undefined && caller.taskToken !== s.taskToken) {
        return jsonRpcError(
          res,
          409,
          -32001,
          s.taskToken === undefined
            ? 'TASK_TOKEN_MISMATCH: this MCP session was initialized without a task token; initialize a new session with the Warden-Task-Token header'
            : 'TASK_TOKEN_MISMATCH: this MCP session is bound to the task token it was initialized with; send that one, or initialize a new session for the other task',
        );
      }
      this.#track(s, res, body);
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
    const refused = await this.#refuseToken(caller);
    if (refused !== undefined) return jsonRpcError(res, refused.status, -32001, refused.message);
    const mcpSession = randomUUID();
    // Under a task token the session is the token's (a made-up one would disagree with it).
    const wardenSession =
      caller.session ?? (caller.taskToken === undefined ? `mcp-${mcpSession}` : undefined);
    const warden = this.#wardenFor(caller, wardenSession);
    const server = createGatewayServer({
      pool: this.#pool,
      warden,
      context: {
        ...(wardenSession !== undefined ? { session: wardenSession } : {}),
        ...(caller.triggeredBy ? { triggeredBy: caller.triggeredBy } : {}),
        ...(caller.taskToken !== undefined ? { taskToken: caller.taskToken } : {}),
      },
      approvalWaitMs: this.#config.approvalWaitMs,
      progressEveryMs: this.#config.progressEveryMs,
      durableResults: this.#config.durableResults,
      onError: this.#onError,
      calls: this.#calls,
      ...(this.#tracing ? { tracing: this.#tracing } : {}),
    });
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => mcpSession,
      onsessioninitialized: (sid) => {
        this.#sessions.set(sid, {
          keyId: caller.keyId,
          taskToken: caller.taskToken,
          transport,
          server,
          warden,
          lastUsed: Date.now(),
          active: 0,
        });
        this.#onOpenSessions(this.#sessions.size);
      },
    });
    transport.onclose = () => {
      if (this.#sessions.delete(mcpSession)) this.#onOpenSessions(this.#sessions.size);
      void warden.close();
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  /**
   * Why the initialize request's task token is refused (a JSON-RPC error: 401 for a bad token, 409 for
   * headers that disagree with it), or undefined.
   */
  async #refuseToken(caller: McpCaller): Promise<{ status: number; message: string } | undefined> {
    const token = caller.taskToken;
    if (token === undefined) return undefined;
    const problem = taskTokenProblem(token);
    if (problem !== undefined) {
      return { status: 401, message: `TASK_TOKEN_INVALID: the Warden-Task-Token header: ${problem}` };
    }
    try {
      await this.#verifyTaskToken?.({ ...caller, taskToken: token });
      return undefined;
    } catch (err) {
      if (!isWardenError(err)) throw err;
      return {
        status: err.code === 'TASK_TOKEN_MISMATCH' ? 409 : 401,
        message: `${err.code}: ${err.message}`,
      };
    }
  }

  /**
   * Shuts the gateway down: calls still waiting for a decision are withdrawn, calls already running
   * upstream get up to `graceMs` to finish (a write is not cut in half), then every session and upstream
   * connection closes.
   */
  async close(graceMs = 10_000): Promise<void> {
    clearInterval(this.#sweeper);
    await this.#calls.settle(graceMs);
    const open = [...this.#sessions.values()];
    this.#sessions.clear();
    this.#onOpenSessions(0);
    await Promise.allSettled(
      open.map(async (s) => {
        await s.server.close();
        await s.warden.close();
      }),
    );
    await this.#pool.close();
  }

  /**
   * Counts the request as open until its response ends. A POST whose response closes before it finished
   * means the client hung up: its calls are cancelled, so a held call is withdrawn instead of running
   * (and using its approval) for nobody — no event store keeps a result for a client to resume.
   */
  #track(s: Session, res: ServerResponse, body: unknown): void {
    s.active++;
    s.lastUsed = Date.now();
    res.once('close', () => {
      s.active--;
      s.lastUsed = Date.now();
      if (res.writableFinished) return;
      for (const requestId of requestIds(body)) {
        s.transport.onmessage?.({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId, reason: 'the client hung up' },
        });
      }
    });
  }

  #sweep(): void {
    const cutoff = Date.now() - IDLE_MS;
    for (const [id, s] of this.#sessions) {
      if (s.active > 0 || s.lastUsed >= cutoff) continue;
      this.#sessions.delete(id);
      void s.server.close().catch(() => {});
      void s.warden.close();
    }
    this.#onOpenSessions(this.#sessions.size);
  }
}

/** The ids of the JSON-RPC requests in a POST body (one message or a batch). */
function requestIds(body: unknown): (string | number)[] {
  const messages = Array.isArray(body) ? body : [body];
  return messages.flatMap((m) => {
    const id = (m as { id?: unknown; method?: unknown } | null)?.id;
    const method = (m as { method?: unknown } | null)?.method;
    return typeof method === 'string' && (typeof id === 'string' || typeof id === 'number') ? [id] : [];
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}
