import type { Readable } from 'node:stream';
import {
  type CallToolResult,
  Client,
  type Progress,
  ProtocolError,
  SdkError,
  SdkErrorCode,
  StreamableHTTPClientTransport,
  type Tool,
} from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { isWardenError, type TraceHeaders, WardenError } from '@warden/core';
import type { UpstreamConfig } from './gateway-config.js';
import { PACKAGE_VERSION } from './package-version.js';
import { forEachLine } from './stderr-lines.js';
import { failureDetail } from './upstream-failure.js';

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
  /** Why the SDK closed the last connection (a message over maxMessageBytes), to name in errors. */
  closedBecause?: string;
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
  readonly #onStderr: ((server: string, line: string) => void) | undefined;
  readonly #maxMessageBytes: number | undefined;
  #closed = false;

  constructor(
    servers: Readonly<Record<string, UpstreamConfig>>,
    o: {
      onError?: (message: string) => void;
      onToolsChanged?: () => void;
      /** Each line a stdio upstream writes to stderr; without it, its stderr is this process's. */
      onStderr?: (server: string, line: string) => void;
      /** The largest message read from a stdio upstream (bytes; default the SDK's 10 MB). */
      maxMessageBytes?: number;
    } = {},
  ) {
    for (const [name, config] of Object.entries(servers)) this.#upstreams.set(name, { name, config });
    this.#onError = o.onError ?? (() => {});
    this.#onToolsChanged = o.onToolsChanged ?? (() => {});
    this.#onStderr = o.onStderr;
    this.#maxMessageBytes = o.maxMessageBytes;
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
          // A failure to connect is logged where it happens (in full) and the retry pause stays quiet.
          if (!isWardenError(err, 'MCP_UPSTREAM_UNAVAILABLE')) {
            this.#onError(`upstream ${u.name} could not list its tools: ${(err as Error).message}`);
          }
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
      return await client.callTool(
        { name: tool, arguments: args, ...(o.meta ? { _meta: { ...o.meta } } : {}) },
        {
          timeout: u.config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
          ...(o.signal ? { signal: o.signal } : {}),
          ...(o.onprogress ? { onprogress: o.onprogress, resetTimeoutOnProgress: true } : {}),
        },
      );
    } catch (err) {
      if (o.signal?.aborted) throw err;
      this.#dropUnlessAnswered(u, client, err);
      // The agent gets what failed and a code; the upstream's own words (a stack trace, a URL with its
      // token) go only to the log.
      this.#onError(`upstream ${server} failed ${tool}: ${(err as Error).message}`);
      const because = u.closedBecause
        ? ` (${u.closedBecause})`
        : ` (${failureDetail(err)}); the error is logged, try again later or ask the operator to check upstream ${server}`;
      throw new WardenError('MCP_UPSTREAM_UNAVAILABLE', `upstream ${server} failed ${tool}${because}`, {
        server,
        tool,
      });
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
    let tools: readonly Tool[];
    try {
      // Without a cursor the client walks every page and returns them all.
      tools = (await client.listTools(undefined, { timeout: u.config.timeoutMs ?? DEFAULT_TIMEOUT_MS }))
        .tools;
    } catch (err) {
      this.#dropUnlessAnswered(u, client, err);
      throw err;
    }
    u.tools = tools;
    return tools;
  }

  /**
   * After a failure the upstream did not answer itself (a lost HTTP session after a restart, a dead
   * socket), the connection is dropped so the next use connects afresh. A protocol error is the upstream's
   * own answer (a bad argument), and a request that timed out leaves a live connection: it stays.
   */
  #dropUnlessAnswered(u: Upstream, client: Client, err: unknown): void {
    if (answered(err) || u.client !== client) return;
    u.client = undefined;
    u.tools = undefined;
    void client.close().catch(() => {});
  }

  #connect(u: Upstream): Promise<Client> {
    if (this.#closed) return Promise.reject(new WardenError('SHUTTING_DOWN', 'the gateway is closing'));
    if (u.client) return Promise.resolve(u.client);
    if (u.failedAt !== undefined && Date.now() - u.failedAt < RETRY_AFTER_MS) {
      return Promise.reject(
        new WardenError(
          'MCP_UPSTREAM_UNAVAILABLE',
          `upstream ${u.name} is unavailable (${u.lastError}); the error is logged, try again later or ask the operator to check upstream ${u.name}`,
          {
            server: u.name,
          },
        ),
      );
    }
    u.connecting ??= this.#open(u).finally(() => {
      u.connecting = undefined;
    });
    return u.connecting;
  }

  async #open(u: Upstream): Promise<Client> {
    // The note is about the connection that closed; a new attempt, whatever its outcome, starts without it.
    u.closedBecause = undefined;
    const client = new Client({ name: 'warden-mcp-gateway', version: PACKAGE_VERSION });
    const c = u.config;
    const transport =
      'command' in c
        ? new StdioClientTransport({
            command: c.command,
            args: c.args ?? [],
            ...(c.env ? { env: c.env } : {}),
            ...(c.cwd ? { cwd: c.cwd } : {}),
            // The gateway's own stdout is its MCP channel; an upstream's logs go to stderr, or line by
            // line to onStderr (a server's log takes only its own lines).
            stderr: this.#onStderr ? 'pipe' : 'inherit',
            ...(this.#maxMessageBytes ? { maxBufferSize: this.#maxMessageBytes } : {}),
          })
        : new StreamableHTTPClientTransport(new URL(c.url), { requestInit: { headers: { ...c.headers } } });
    const onStderr = this.#onStderr;
    // A PassThrough, there from before the upstream starts, when stderr is 'pipe'.
    const piped = transport instanceof StdioClientTransport ? (transport.stderr as Readable | null) : null;
    if (onStderr && piped) {
      // Lines are capped: an upstream's stderr is not ours to hold or log without limit.
      forEachLine(piped, (line) => {
        if (line.trim() !== '') onStderr(u.name, line);
      });
    }
    client.setNotificationHandler('notifications/tools/list_changed', async () => {
      u.tools = undefined;
      this.#onToolsChanged();
    });
    // The SDK closes a stdio connection whose message is over its size limit, reporting it only here.
    let oversized: string | undefined;
    client.onerror = (err) => {
      if (isOversized(err)) oversized = err.message;
    };
    client.onclose = () => {
      if (oversized && u.client === client) {
        u.closedBecause = `${oversized}; raise maxMessageBytes in the gateway config to accept larger messages`;
        this.#onError(`upstream ${u.name} closed: ${u.closedBecause}`);
      }
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
      u.lastError = failureDetail(err);
      await client.close().catch(() => {});
      this.#onError(`upstream ${u.name} could not be started or reached: ${(err as Error).message}`);
      throw new WardenError(
        'MCP_UPSTREAM_UNAVAILABLE',
        `upstream ${u.name} could not be started or reached (${u.lastError}); the error is logged, try again later or ask the operator to check upstream ${u.name}`,
        { server: u.name },
      );
    }
    u.failedAt = undefined;
    u.closedBecause = undefined;
    u.client = client;
    return client;
  }
}

/** The SDK's stdio read buffer refused a message over its size limit (the connection is then closed). */
export function isOversized(err: Error): boolean {
  return /ReadBuffer exceeded maximum size/.test(err.message);
}

/** A JSON-RPC error the upstream sent, or a local timeout on a connection still open (v1's McpError covered both). */
function answered(err: unknown): boolean {
  return (
    ProtocolError.isInstance(err) || (SdkError.isInstance(err) && err.code === SdkErrorCode.RequestTimeout)
  );
}
