import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import { uuidv7, WardenError } from '@warden/core';
import { createWarden } from '@warden/sdk';
import type { GatewayConfig } from './gateway-config.js';
import { createGatewayServer } from './gateway-server.js';
import { InFlightCalls } from './in-flight-calls.js';
import { watchToolList } from './tool-list-watch.js';
import { isOversized, UpstreamPool } from './upstream-pool.js';

/** A running stdio gateway. */
export interface StdioGateway {
  /**
   * The Warden session every call of this gateway is recorded under; unset under a task token that
   * names none here (the token's session is then the calls').
   */
  readonly session: string | undefined;
  /** Resolves when the client hangs up (stdin closes). */
  readonly closed: Promise<void>;
  /** Lists every upstream's tools once: which upstreams could not be started or reached. */
  probe(): Promise<{ total: number; failed: string[] }>;
  /** Stops the upstreams, records what is pending and closes the connection to Warden. */
  close(): Promise<void>;
}

/**
 * `warden mcp`: one MCP server on this process's stdin/stdout (what desktop clients launch), in front of
 * the config's upstreams, with one Warden identity for the whole gateway (its key, or the embedded agent).
 */
export async function startStdioGateway(
  config: GatewayConfig,
  o: {
    onError?: (message: string) => void;
    stdin?: NodeJS.ReadableStream;
    stdout?: NodeJS.WritableStream;
    /**
     * The task token of this connection (`warden mcp --task-token`, `WARDEN_TASK_TOKEN`): every call
     * carries it, so Warden records the task's verified initiator and chain and uses its session.
     */
    taskToken?: string;
  } = {},
): Promise<StdioGateway> {
  if (!config.warden) {
    throw new WardenError(
      'CONFIG_INVALID',
      'the gateway config needs a warden section: { url, key } of a Warden server (key: env:WARDEN_KEY), or { embedded: { db, policy, agent } }',
    );
  }
  if (o.taskToken !== undefined && (config.session || config.triggeredBy)) {
    // Every call would be refused as disagreeing with the token: say so once, at start.
    throw new WardenError(
      'CONFIG_INVALID',
      `the gateway config names ${config.session ? 'session' : 'triggeredBy'}, and the task token names the task's own session and initiator: remove session and triggeredBy from the config to run under a task token`,
    );
  }
  // Under a task token the session is the token's (a made-up one would disagree with it).
  const session = config.session ?? (o.taskToken === undefined ? `mcp-${uuidv7()}` : undefined);
  const warden = await createWarden({
    ...config.warden,
    context: {
      ...(session !== undefined ? { session } : {}),
      ...(config.triggeredBy ? { triggeredBy: config.triggeredBy } : {}),
    },
    ...(o.taskToken !== undefined ? { taskToken: o.taskToken } : {}),
    ...(o.onError ? { onError: (err) => o.onError?.(err.message) } : {}),
  } as Parameters<typeof createWarden>[0]);
  const pool = new UpstreamPool(config.servers, {
    ...(o.onError ? { onError: o.onError } : {}),
    ...(config.maxMessageBytes ? { maxMessageBytes: config.maxMessageBytes } : {}),
    onToolsChanged: () => void server.sendToolListChanged().catch(() => {}),
  });
  const calls = new InFlightCalls();
  const server = createGatewayServer({
    pool,
    warden,
    calls,
    context: warden.context(),
    approvalWaitMs: config.approvalWaitMs,
    progressEveryMs: config.progressEveryMs,
    durableResults: config.durableResults,
    ...(o.onError ? { onError: o.onError } : {}),
  });
  const transport = new StdioServerTransport(
    o.stdin as NodeJS.ReadStream | undefined,
    o.stdout as NodeJS.WriteStream | undefined,
    config.maxMessageBytes ? { maxBufferSize: config.maxMessageBytes } : {},
  );
  let hangUp: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    hangUp = resolve;
  });
  server.onclose = () => hangUp();
  server.onerror = (err) => {
    if (isOversized(err)) {
      o.onError?.(
        `the client sent a message larger than the gateway reads (${err.message}); the connection is closed. Raise maxMessageBytes in the gateway config to accept larger messages.`,
      );
    }
  };
  (o.stdin ?? process.stdin).once('end', () => hangUp());
  await server.connect(transport);
  const watch = watchToolList(server, pool, warden, config.listCheckEveryMs, o.onError);
  let closing: Promise<void> | undefined;
  return {
    session,
    closed,
    probe: async () => {
      const listed = new Set((await pool.tools()).map((t) => t.server));
      return { total: pool.names.length, failed: pool.names.filter((n) => !listed.has(n)) };
    },
    close: () => {
      closing ??= (async () => {
        watch.stop();
        // Held calls are withdrawn; calls already running upstream may finish.
        await calls.settle(10_000);
        await server.close().catch(() => {});
        await pool.close();
        await warden.close();
      })();
      return closing;
    },
  };
}
