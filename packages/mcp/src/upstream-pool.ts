import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import {
  type CallToolResult,
  McpError,
  type Tool,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { type TraceHeaders, WardenError } from '@warden/core';
import type { UpstreamConfig } from './gateway-config.js';

const DEFAULT_TIMEOUT_MS = 60_000;
/**
 * A listing waits this long for each upstream; a slower one is left out of this answer (it keeps
 * connecting in the background, for the next listing), so one hung server does not hide the others.
 */
const LIST_DEADLINE_MS = 5_000;
/** A failed upstream is not tried again sooner than this (each tools/list would otherwise wait on it). */
const RETRY_AFTER_MS = 5_000;

interface Upstream {
  readonly name: string;
  readonly config: UpstreamConfig;
  client?: Client;
  connecting?: Promise<Client>;
  tools?: readonly Tool[];
  failedAt?: number;
  lastError?: string;
}

/** Options of one forwarded call. */
export interface ForwardOptions {
  readonly signal?: AbortSignal;
  /** Upstream progress, relayed to the client. */
  readonly onprogress?: (p: Progress) => void;
  /** The W3C trace context for the request's `_meta` (SEP-414 keys: traceparent, tracestate). */
  readonly meta?: TraceHeaders;
}

/**
 * The gateway's connections to its upstream MCP servers, made with the official client on first use and
 * kept open. One upstream that cannot start or be reached does not take the others down: its tools are
 * missing from listings and its calls fail with MCP_UPSTREAM_UNAVAILABLE naming it, and it is tried again.
 */
export class UpstreamPool {
  readonly #upstreams = new Map<string, Upstream>();
  readonly #onError: (message: string) => void;
  readonly #onToolsChanged: () => void;
  #closed = false;

  constructor(
    servers: Readonly<Record<string, UpstreamConfig>>,
    o: { onError?: (message: string) => void; onToolsChanged?: () => void } = {},
  ) {
    for (const [name, config] of Object.entries(servers)) this.#upstreams.set(name, { name, config });
    this.#onError = o.onError ?? (() => {});
    this.#onToolsChanged = o.onToolsChanged ?? (() => {});
  }

  /** The upstreams' names, in config order. */
  get names(): readonly string[] {
    return [...this.#upstreams.keys()];
  }

  has(server: string): boolean {
    return this.#upstreams.has(server);
  }

  /**
   * Every upstream's tools (connecting as needed). An unreachable upstream contributes none, and one that
   * has not answered within a few seconds is left out of this listing while it keeps connecting.
   */
  async tools(): Promise<{ server: string; tool: Tool }[]> {
    const lists = await Promise.all(
      [...this.#upstreams.values()].map(async (u) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), LIST_DEADLINE_MS);
        });
        try {
          const tools = await Promise.race([this.#toolsOf(u), late]);
          if (tools === 'late') {
            this.#onError(
              `upstream ${u.name} did not list its tools within ${LIST_DEADLINE_MS} ms; left out for now`,
            );
            return [];
          }
          return tools.map((tool) => ({ server: u.name, tool }));
        } catch (err) {
          this.#onError(`upstream ${u.name}: ${(err as Error).message}`);
          return [];
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    return lists.flat();
  }

  /** Calls a tool on an upstream; its own error result comes back as it is, a failure to reach it throws. */
  async call(
    server: string,
    tool: string,
    args: Record<string, unknown>,
    o: ForwardOptions = {},
  ): Promise<CallToolResult> {
    const u = this.#upstreams.get(server);
    if (!u) throw new WardenError('MCP_TOOL_UNKNOWN', `the gateway has no upstream named ${server}`);
    const client = await this.#connect(u);
    try {
      const params = { name: tool, arguments: args, ...(o.meta ? { _meta: { ...o.meta } } : {}) };
      return (await client.callTool(params, undefined, {
        timeout: u.config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.onprogress ? { onprogress: o.onprogress, resetTimeoutOnProgress: true } : {}),
      })) as CallToolResult;
    } catch (err) {
      if (o.signal?.aborted) throw err;
      this.#dropUnlessAnswered(u, client, err);
      throw new WardenError(
        'MCP_UPSTREAM_UNAVAILABLE',
        `upstream ${server} failed ${tool}: ${(err as Error).message}`,
        {
          server,
          tool,
        },
      );
    }
  }

  /** Closes every upstream connection (stdio upstreams are stopped). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled(
      [...this.#upstreams.values()].map(async (u) => {
        const c = u.client ?? (await u.connecting?.catch(() => undefined));
        u.client = undefined;
        await c?.close();
      }),
    );
  }

  async #toolsOf(u: Upstream): Promise<readonly Tool[]> {
    const client = await this.#connect(u);
    if (u.tools) return u.tools;
    const tools: Tool[] = [];
    let cursor: string | undefined;
    try {
      do {
        const page = await client.listTools(cursor ? { cursor } : undefined, {
          timeout: u.config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        });
        tools.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor);
    } catch (err) {
      this.#dropUnlessAnswered(u, client, err);
      throw err;
    }
    u.tools = tools;
    return tools;
  }

  /**
   * After a failure the upstream did not answer itself (a lost HTTP session after a restart, a dead
   * socket), the connection is dropped so the next use connects afresh. An MCP error is the upstream's
   * own answer (a bad argument, a timeout it reported): the connection stays.
   */
  #dropUnlessAnswered(u: Upstream, client: Client, err: unknown): void {
    if (err instanceof McpError || u.client !== client) return;
    u.client = undefined;
    u.tools = undefined;
    void client.close().catch(() => {});
  }

  #connect(u: Upstream): Promise<Client> {
    if (this.#closed) return Promise.reject(new WardenError('SHUTTING_DOWN', 'the gateway is closing'));
    if (u.client) return Promise.resolve(u.client);
    if (u.failedAt !== undefined && Date.now() - u.failedAt < RETRY_AFTER_MS) {
      return Promise.reject(
        new WardenError('MCP_UPSTREAM_UNAVAILABLE', `upstream ${u.name} is unavailable: ${u.lastError}`, {
          server: u.name,
        }),
      );
    }
    u.connecting ??= this.#open(u).finally(() => {
      u.connecting = undefined;
    });
    return u.connecting;
  }

  async #open(u: Upstream): Promise<Client> {
    const client = new Client({ name: 'warden-mcp-gateway', version: '0.1.0' });
    const c = u.config;
    const transport =
      'command' in c
        ? new StdioClientTransport({
            command: c.command,
            args: c.args ?? [],
            ...(c.env ? { env: c.env } : {}),
            ...(c.cwd ? { cwd: c.cwd } : {}),
            // The gateway's own stdout is its MCP channel; an upstream's logs go to stderr.
            stderr: 'inherit',
          })
        : new StreamableHTTPClientTransport(new URL(c.url), { requestInit: { headers: { ...c.headers } } });
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      u.tools = undefined;
      this.#onToolsChanged();
    });
    client.onclose = () => {
      // A stdio upstream that exited: reconnect on next use.
      if (u.client === client) {
        u.client = undefined;
        u.tools = undefined;
      }
    };
    try {
      await client.connect(transport, { timeout: c.timeoutMs ?? DEFAULT_TIMEOUT_MS });
    } catch (err) {
      u.failedAt = Date.now();
      u.lastError = (err as Error).message;
      await client.close().catch(() => {});
      throw new WardenError(
        'MCP_UPSTREAM_UNAVAILABLE',
        `upstream ${u.name} could not be started or reached: ${u.lastError}`,
        {
          server: u.name,
        },
      );
    }
    u.failedAt = undefined;
    u.client = client;
    return client;
  }
}
