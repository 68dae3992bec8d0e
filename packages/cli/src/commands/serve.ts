import { relative } from 'node:path';
import { dashboardDir, EXAMPLE_POLICY, resolveServerConfig, startServer } from '@warden/server';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../cli-io.js';
import { describeError } from '../describe-error.js';
import { wardenCommand } from './warden-command.js';

export interface ServeOptions {
  readonly config?: string;
  readonly policy?: string;
  readonly db?: string;
  readonly port?: string;
  readonly host?: string;
  readonly keys?: string;
  readonly policyOverwrite?: boolean;
}

/**
 * `warden serve`: runs the server until SIGINT or SIGTERM, then drains in-flight requests, flushes the
 * audit and signs a final checkpoint. Resolves to the exit code.
 *
 * Two audiences, two streams. Stdout is the start-up banner, human text for the person who typed the
 * command (where it listens, the policy, the one-time admin key, which must never reach a log pipeline).
 * Stderr is the log: from the moment the server starts, everything it says (warnings, notices, request
 * logs, shutdown) is a JSON line from its logger at the configured level, which a collector can parse
 * without exceptions. A start that fails never became a server: that is a CLI error, printed as text.
 */
export async function serve(
  o: ServeOptions,
  io: CliIo,
  signals: NodeJS.EventEmitter = process,
): Promise<number> {
  const config = resolveServerConfig({
    ...(o.config ? { config: o.config } : {}),
    policy: o.policy,
    db: o.db,
    port: o.port,
    host: o.host,
    keysFile: o.keys,
    policyOverwrite: o.policyOverwrite,
  });
  const adminKey = process.env.WARDEN_ADMIN_KEY || undefined;
  const server = await startServer(config, { ...(adminKey ? { adminKey } : {}) });
  const { log } = server;
  // Listen for the stop signals before saying we listen: a supervisor (or a test) that sends SIGTERM the
  // moment it reads the banner must get a graceful shutdown, not Node's default (killed, nothing flushed).
  let stopSignal: string | undefined;
  let wake: (() => void) | undefined;
  const onStop = (signal: string) => {
    stopSignal ??= signal;
    wake?.();
  };
  signals.once('SIGINT', () => onStop('SIGINT'));
  signals.once('SIGTERM', () => onStop('SIGTERM'));
  const policy = server.ctx.engine.policy;
  const where =
    server.policySource === 'file'
      ? config.policy
      : server.policySource === 'example'
        ? `the example policy (${relative(io.cwd, EXAMPLE_POLICY) || '.'})`
        : 'the policy stored in the database';
  io.out(`Warden is listening on ${server.url}\n`);
  io.out(`  database  ${server.ctx.engine.store.location} (${server.ctx.engine.store.dialect})\n`);
  io.out(`  policy    ${policy.name} ${policy.version.slice(0, 19)}… from ${where}\n`);
  io.out(
    dashboardDir()
      ? `  dashboard ${server.url}/ (sign in with a person's key: approver, admin or auditor)\n`
      : '  dashboard not built: run `npm run build` and restart to serve it\n',
  );
  io.out(
    `  API       ${server.url}/openapi.json · metrics ${server.url}/metrics · health ${server.url}/healthz\n`,
  );
  if (server.bootstrap) {
    io.out(
      adminKey
        ? '\nFirst start: the admin key from WARDEN_ADMIN_KEY is registered.\n'
        : `\nFirst start: an admin key was created. It is shown this once; keep it somewhere safe:\n\n  ${server.bootstrap.secret}\n`,
    );
    io.out(
      `\nNext, give an agent a key:\n  ${wardenCommand()} keys create --agent support-bot --db ${shellDb(config.db)}\n`,
    );
  }
  await new Promise<void>((resolve) => {
    if (stopSignal) resolve();
    else wake = resolve;
  });
  log.info({ signal: stopSignal }, 'shutting down: finishing in-flight calls and flushing the audit');
  try {
    const timeout = new Promise<'timeout'>((r) =>
      setTimeout(() => r('timeout'), config.shutdownTimeoutMs).unref(),
    );
    const result = await Promise.race([server.close().then(() => 'closed' as const), timeout]);
    if (result === 'timeout') {
      log.error(
        { shutdownTimeoutMs: config.shutdownTimeoutMs },
        `shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting anyway`,
      );
      // Whatever is still open (a stuck connection) would keep the process alive: leave now.
      process.exit(EXIT.failed);
    }
    log.info('stopped; the audit trail is flushed and checkpointed');
    return EXIT.ok;
  } catch (err) {
    log.error({ err }, `shutdown failed: ${describeError(err)}`);
    return EXIT.failed;
  }
}

function shellDb(db: string): string {
  return /^[\w@%+=:,./-]+$/.test(db) ? db : `'${db.replaceAll("'", `'\\''`)}'`;
}
