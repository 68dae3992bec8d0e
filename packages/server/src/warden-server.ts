import type { IncomingMessage } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { BUNDLED_PRICES, compilePolicySources, WARDEN_ACTOR, WardenError, withOverride } from '@warden/core';
import {
  applyPolicy,
  bootstrapAdminKey,
  type CreatedApiKey,
  compileStored,
  type Engine,
  lastFromPolicyFile,
  loadPolicySources,
  openEngine,
  openStore,
  POLICY_FILE_ACTOR,
  type PolicySync,
  type PolicyVersionRecord,
  type PolicyWatcher,
  type Store,
  syncPolicy,
  watchPolicy,
} from '@warden/engine';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { Authenticator } from './auth/authenticator.js';
import { OidcService } from './auth/oidc/oidc-service.js';
import { PersonDirectory } from './auth/person-directory.js';
import { RateLimiter } from './auth/rate-limiter.js';
import { reservedKeyWarnings } from './auth/reserved-key-names.js';
import { SignedOutSessions } from './auth/signed-out-sessions.js';
import { DeferredCompletions } from './completions/deferred-completions.js';
import { publicBaseUrl, type ServerConfig } from './config/server-config.js';
import { EventHub } from './live/event-hub.js';
import { SseRegistry } from './live/sse-stream.js';
import { createServerLogger, errorFields, type ServerLogger } from './log/server-logger.js';
import { createMcpGateway } from './mcp/mcp-routes.js';
import { ServerMetrics } from './metrics/server-metrics.js';
import { NotificationDispatcher } from './notify/notification-dispatcher.js';
import { SLACK_EVENTS, SLACK_TARGET } from './notify/slack-config.js';
import type { ServerContext } from './server-context.js';
import { createCallTracer } from './telemetry/call-tracer.js';

/** The example policy shipped in this package (`example-policy/`): what a server started with no policy runs. */
export const EXAMPLE_POLICY = fileURLToPath(new URL('../example-policy', import.meta.url));

/** A running server. */
export interface WardenServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly ctx: ServerContext;
  /** The admin key made on first start (shown once); undefined when keys already existed. */
  readonly bootstrap: CreatedApiKey | undefined;
  /** Where the policy in force came from. */
  readonly policySource: 'file' | 'database' | 'example';
  /** The server's logger (also Fastify's): for whatever the host has to say while it runs. */
  readonly log: ServerLogger;
  /** Stops taking work, lets in-flight requests finish, flushes the audit and signs a final checkpoint. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** The first admin key's secret (WARDEN_ADMIN_KEY), instead of a generated one. */
  readonly adminKey?: string;
  /** Skip listening (tests drive the app with inject()). */
  readonly listen?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Where warnings, notices and request logs go: default JSON lines on stderr at `config.logLevel`
   * ({@link createServerLogger}).
   */
  readonly logger?: ServerLogger;
  /** Receives warnings and errors as text instead of the log (`warden demo` prints them for a person). */
  readonly onWarning?: (message: string) => void;
  /**
   * Receives notices (a policy reloaded or adopted: not problems) as text instead of the log, where they
   * are `info` lines.
   */
  readonly onNotice?: (message: string) => void;
}

/** How the server reports what an operator should see: a message and fields for the log line. */
interface Report {
  /** Something went wrong in the background and Warden carried on (a sweep, a push, an export). */
  error(message: string, fields?: Record<string, unknown>): void;
  /** Something an operator should act on. */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Not a problem: a policy reloaded or adopted. */
  notice(message: string, fields?: Record<string, unknown>): void;
}

/** Log lines, unless the host takes the text (onWarning, onNotice). */
function reporter(log: ServerLogger, options: StartOptions): Report {
  const text = (message: string, fields?: Record<string, unknown>) =>
    typeof fields?.code === 'string' && !message.includes(fields.code)
      ? `${fields.code}: ${message}`
      : message;
  const { onWarning, onNotice } = options;
  return {
    error: onWarning ? (m, f) => onWarning(text(m, f)) : (m, f) => log.error(f ?? {}, m),
    warn: onWarning ? (m, f) => onWarning(text(m, f)) : (m, f) => log.warn(f ?? {}, m),
    notice: onNotice ? (m, f) => onNotice(text(m, f)) : (m, f) => log.info(f ?? {}, m),
  };
}

/** A failure's message and fields, for `report.error(…)` and `report.warn(…)`. */
function failure(what: string, err: unknown): [string, Record<string, unknown>] {
  const message = err instanceof Error ? err.message : String(err);
  return [`${what}: ${message}`, errorFields(err)];
}

/**
 * Starts Warden as a service: opens the store, settles the policy (file over stored over example),
 * bootstraps the first admin key, starts tailing the audit chain and listens.
 */
export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<WardenServer> {
  const log = options.logger ?? createServerLogger(config.logLevel);
  const report = reporter(log, options);
  // A busy port is found before anything is created: a first start that failed after making the admin
  // key would have shown it to nobody, and the next start would not make another.
  if (options.listen !== false && config.port !== 0) await ensurePortFree(config.host, config.port);
  const store = await openStore(config.db);
  let engine: Engine | undefined;
  try {
    const { policy, sources, source, fileVersion } = await settlePolicy(store, config, report);
    engine = await openEngine({
      store,
      policy,
      ...(config.keysFile ? { keysFile: config.keysFile } : { db: config.db }),
      ...(config.retentionDays ? { retention: { days: config.retentionDays } } : {}),
      approvalSweepMs: config.approvalSweepMs,
      budgetSweepMs: config.budgetSweepMs,
      reservationLeaseMs: config.reservationLeaseMs,
      defaultTokenEstimate: config.defaultTokenEstimate,
      prices: withOverride(BUNDLED_PRICES, config.prices),
      notificationTargets: [
        ...config.webhooks.map((w) => ({ name: w.name, events: w.events })),
        ...(config.slack ? [{ name: SLACK_TARGET, events: [...SLACK_EVENTS] }] : []),
      ],
      onError: (err) => report.error(err.message, errorFields(err)),
    });
    // A kept stored policy is in force already and recorded: applying it again could put it over one
    // another instance stored since settlePolicy read it (policy sync brings that one in instead).
    const stored = source === 'database' ? undefined : await store.currentPolicy();
    if (source !== 'database' && stored?.version !== policy.version) {
      // Recorded as a change from the stored policy, as a PUT would be (not from the new one to itself).
      const previous = stored && compileOrUndefined(stored);
      if (previous) engine.adoptPolicy(previous);
      await applyPolicy(engine, policy, source === 'file' ? POLICY_FILE_ACTOR : WARDEN_ACTOR, sources);
    }
    const bootstrap = await bootstrapAdminKey(engine, options.adminKey);
    for (const w of await reservedKeyWarnings(store)) report.warn(w);
    return await assemble(engine, store, config, { ...options, log, report, fileVersion }, bootstrap, source);
  } catch (err) {
    await engine?.close().catch(() => {});
    await store.close().catch(() => {});
    throw err;
  }
}

/** A stored policy compiled, or undefined when it does not compile (a newer Warden wrote it). */
function compileOrUndefined(record: PolicyVersionRecord) {
  try {
    return compileStored(record);
  } catch {
    return undefined;
  }
}

/** A stored policy compiled; STORE_INVALID when this Warden cannot compile it (a newer Warden stored it). */
function compileOrRefuse(record: PolicyVersionRecord, file: string) {
  try {
    return compileStored(record);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new WardenError(
      'STORE_INVALID',
      `the stored policy ${record.version} (by ${record.createdBy} at ${record.createdAt}) cannot be compiled by this Warden, so a newer Warden probably stored it; upgrade Warden, or start with --policy-overwrite to replace it with ${file}:\n${why}`,
      { version: record.version },
    );
  }
}

/** Fails with CONFIG_INVALID when the port cannot be bound (in use, or not allowed). */
async function ensurePortFree(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new WardenError('CONFIG_INVALID', `port ${port} on ${host} is in use; pick another with --port`)
          : err,
      );
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** The port the app listens on, once it does. */
function listeningPort(app: FastifyInstance): number | undefined {
  const addr = app.server.address();
  return addr && typeof addr === 'object' ? addr.port : undefined;
}

/** The sockets that have not sent a request yet. */
function trackUnusedConnections(app: FastifyInstance): Set<Socket> {
  const unused = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    unused.add(socket);
    socket.once('close', () => unused.delete(socket));
  });
  app.server.on('request', (req: IncomingMessage) => unused.delete(req.socket as Socket));
  return unused;
}

/** How many stored versions are searched for the policy file's own when deciding which one starts. */
const FILE_HISTORY_DEPTH = 500;

/**
 * The policy to start with: the file (when given), else the stored one, else the example. A file that has
 * not changed since it was last applied does not undo a newer stored policy (one put in force with
 * PUT /v1/policy meanwhile) unless `policyOverwrite` says so; either way the log names both versions.
 */
async function settlePolicy(store: Store, config: ServerConfig, report: Report) {
  const current = await store.currentPolicy();
  if (config.policy) {
    const files = loadPolicySources([config.policy], process.cwd());
    const policy = compilePolicySources(files);
    const fromFile = {
      policy,
      sources: files.map((f) => ({ path: f.file, text: f.text })),
      source: 'file' as const,
      fileVersion: policy.version,
    };
    if (!current || current.version === policy.version) return fromFile;
    const stored = `the stored policy ${current.version} (by ${current.createdBy} at ${current.createdAt})`;
    if (config.policyOverwrite) {
      report.notice(
        `policy ${policy.version} from ${config.policy} replaces ${stored} (--policy-overwrite)`,
        {
          policyVersion: policy.version,
          storedVersion: current.version,
        },
      );
      return fromFile;
    }
    // A stored policy this Warden cannot compile was written by a newer one (a rolling upgrade): putting the
    // file over it would spread this older policy to every instance through policy sync. Only on request.
    const compiled = compileOrRefuse(current, config.policy);
    // The file is unchanged when it still holds the version it last put in force; everything stored after
    // that came from elsewhere (PUT /v1/policy) and stays. A file reverted to an older version has changed.
    const lastFromFile = lastFromPolicyFile(await store.policyHistory(FILE_HISTORY_DEPTH));
    if (lastFromFile?.version === policy.version) {
      report.warn(
        `${config.policy} (policy ${policy.version}) has not changed since it was last applied, and ${stored} is newer: keeping the stored policy. Edit the file, or start with --policy-overwrite, to put the file's policy in force`,
        { policyFile: config.policy, fileVersion: policy.version, storedVersion: current.version },
      );
      return {
        policy: compiled,
        sources: current.sources,
        source: 'database' as const,
        fileVersion: policy.version,
      };
    }
    report.notice(`policy ${policy.version} from ${config.policy} replaces ${stored}`, {
      policyVersion: policy.version,
      storedVersion: current.version,
    });
    return fromFile;
  }
  if (current)
    return { policy: compileStored(current), sources: current.sources, source: 'database' as const };
  const files = loadPolicySources([EXAMPLE_POLICY], EXAMPLE_POLICY);
  return {
    policy: compilePolicySources(files),
    sources: files.map((f) => ({ path: f.file, text: f.text })),
    source: 'example' as const,
  };
}

async function assemble(
  engine: Engine,
  store: Store,
  config: ServerConfig,
  options: StartOptions & { log: ServerLogger; report: Report; fileVersion?: string | undefined },
  bootstrap: CreatedApiKey | undefined,
  policySource: WardenServer['policySource'],
): Promise<WardenServer> {
  const { log, report } = options;
  const hub = new EventHub(store, { onError: (err) => report.error(...failure('live events', err)) });
  await hub.start(config.pollMs);
  const auth = new Authenticator(store, { humanKeys: config.auth.keySignIn });
  const sse = new SseRegistry(config.heartbeatMs, (keyId) => auth.stillValid(keyId));
  const signedOut = new SignedOutSessions(store, { refreshMs: config.pollMs });
  await signedOut.start();
  const stopCommits = engine.onCommit(() => void hub.kick());
  hub.onEvent((e) => {
    if (e.type === 'auth.signed_out') {
      signedOut.addEvent(e.data);
      const id = e.data?.session;
      if (typeof id === 'string') sse.closeSession(id);
      return;
    }
    if (e.type !== 'api_key.revoked') return;
    const id = (e.data as { id?: string } | undefined)?.id;
    if (id) {
      auth.evict(id);
      sse.closeKey(id);
    }
  });
  const policySync: PolicySync = syncPolicy(engine, {
    intervalMs: Math.max(config.pollMs * 4, 250),
    onError: (err) => report.warn(...failure('policy sync', err)),
    onAdopt: (version) =>
      report.notice(`policy ${version} is in force (stored by another instance)`, { policyVersion: version }),
  });
  const watcher: PolicyWatcher | undefined = config.policy
    ? watchPolicy(engine, [config.policy], {
        ...(options.fileVersion ? { fileVersion: options.fileVersion } : {}),
        onError: (err) => {
          const [message, fields] = failure('policy file', err);
          report.warn(message, { ...fields, policyFile: config.policy });
        },
        onAdopt: (version) =>
          report.notice(`policy ${version} is in force (the same edit, stored by another instance)`, {
            policyVersion: version,
          }),
        onReload: (r) =>
          report.notice(
            `policy ${r.newVersion} is in force, reloaded from ${config.policy} (was ${r.oldVersion})`,
            { policyVersion: r.newVersion, previousVersion: r.oldVersion, policyFile: config.policy },
          ),
      })
    : undefined;
  const tracer = await createCallTracer(options.env ?? process.env, {
    onError: (err) => report.warn(...failure('tracing export failed', err)),
  });
  const metrics = new ServerMetrics({
    auditHeadSeq: async () => (await store.head()).seq,
    deliveredSeq: () => (hub.tailing ? hub.lastSeq : undefined),
    sseConnections: () => sse.size,
    approvalsPending: () => store.pendingApprovals(),
    budgetStatus: () => engine.budgets.status({}),
  });
  const ctx: ServerContext = {
    engine,
    config,
    auth,
    signedOut,
    oidc: config.auth.oidc ? new OidcService(config.auth.oidc) : undefined,
    people: new PersonDirectory(store),
    hub,
    sse,
    metrics,
    tracer,
    policySync,
    authFailures: new RateLimiter(config.authFailuresPerMinute / 60, config.authFailuresPerMinute),
    keyLimiter: config.rateLimitPerKey > 0 ? new RateLimiter(config.rateLimitPerKey) : undefined,
    state: { shuttingDown: false },
    completions: new DeferredCompletions(),
  };
  if (config.mcp) {
    ctx.mcp = createMcpGateway(ctx, config.mcp, {
      warn: (m) => report.warn(m),
      // An upstream's own log, marked as the upstream's. Warden cannot tell its severity, and stderr is
      // where an upstream says why it crashed: warn, so the default level (warn) does not drop that.
      // Upstreams write little there (a start-up line), and each line is capped at 8 KB.
      upstreamStderr: (upstream, line) => log.warn({ upstream, stream: 'stderr' }, line),
    });
  }
  const app = buildApp(ctx, { loggerInstance: log });
  const unused = trackUnusedConnections(app);
  let url = '';
  const notifier = new NotificationDispatcher(engine, config, {
    baseUrl: () => publicBaseUrl(config, listeningPort(app) ?? config.port),
    onError: (err) => report.error(...failure('webhooks', err)),
    onFailed: (f) => report.warn(`webhook ${f.webhook} could not be delivered: ${f.error}`, { ...f }),
  });
  if (options.listen !== false) {
    try {
      url = await app.listen({ port: config.port, host: config.host });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      await shutdown();
      if (e.code === 'EADDRINUSE') {
        throw new WardenError(
          'CONFIG_INVALID',
          `port ${config.port} on ${config.host} is in use; pick another with --port`,
        );
      }
      throw err;
    }
  }
  notifier.start(config.webhookPollMs);
  let closing: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    ctx.state.shuttingDown = true;
    // Completions held for the next decision's commit start now; the drains below wait for them.
    ctx.completions.release();
    sse.closeAll('the server is shutting down; reconnect with Last-Event-ID');
    // MCP sessions hold their streams open; closing them lets the drain below finish.
    await ctx.mcp?.close();
    // app.close() closes the connections idle at that moment only; one whose in-flight request finishes
    // during the drain would stay open for keepAliveTimeout (72 s) and hold the shutdown up. Close those too.
    // A connection that never sent a request is neither idle nor busy to Node and would hold the close up
    // until its headers timeout; nothing is in flight on it, so it goes too.
    const reaper = setInterval(() => {
      app.server.closeIdleConnections();
      for (const socket of unused) socket.destroy();
    }, 100);
    try {
      await app.close();
    } finally {
      clearInterval(reaper);
    }
    await notifier.stop();
    stopCommits();
    policySync.close();
    watcher?.close();
    hub.stop();
    await tracer?.shutdown();
    await engine.close();
    await store.close();
  }
  return {
    url,
    app,
    ctx,
    bootstrap,
    policySource,
    log,
    close: () => {
      closing ??= shutdown();
      return closing;
    },
  };
}
