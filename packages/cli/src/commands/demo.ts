import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { resolveServerConfig, type ServerConfig, startServer, type WardenServer } from '@warden/server';
import { type CliIo, EXIT } from '../cli-io.js';
import { describeError } from '../describe-error.js';
import { apiClient } from './api-client.js';
import { DEMO_POLICY, DEMO_SESSIONS } from './demo-cast.js';
import { printDemoIntro, printWhatToLookAt } from './demo-guide.js';
import { DemoAborted, runDemoScript } from './demo-script.js';
import {
  chooseDemoPort,
  createDemoKeys,
  DEMO_DB_FILE,
  prepareDemoDir,
  startDemoTasks,
} from './demo-setup.js';

export interface DemoOptions {
  readonly port?: string;
  readonly host?: string;
  readonly dir?: string;
  /** Unattended: a demo approver approves the held refund through the API after a moment. */
  readonly autoApprove?: boolean;
  /** Stop the server once the story is told, instead of serving until Ctrl-C. */
  readonly exit?: boolean;
}

/** How long a person has to approve the refund (the policy's own timeout), and the stand-in. */
const HUMAN_APPROVAL_MS = 30 * 60_000;
const AUTO_APPROVAL_MS = 60_000;
const AUTO_APPROVE_AFTER_MS = 1_000;

/**
 * `warden demo`: starts a server on a fresh database with the demo policy, creates keys, and drives a
 * scripted agent through the SDK over HTTP (allowed calls, a refund held for approval, a block, a budget
 * breach, a runaway loop), narrating each outcome; then serves until Ctrl-C, or stops with `--exit`.
 */
export async function demo(
  o: DemoOptions,
  io: CliIo,
  signals: NodeJS.EventEmitter = process,
): Promise<number> {
  const host = o.host ?? '127.0.0.1';
  const dir = prepareDemoDir(o.dir, io);
  const { port, fellBack } = await chooseDemoPort(o.port, host);
  const db = join(dir, DEMO_DB_FILE);
  // The demo's settings are its own: no WARDEN_* variable or config file reaches its server.
  const config = resolveServerConfig({ db, policy: DEMO_POLICY, port, host }, {});
  let server: WardenServer;
  try {
    server = await startServer(config, { onWarning: (m) => io.err(`warden: warning: ${m}\n`) });
  } catch (err) {
    removeDemoFiles(dir); // nothing to see, and a retry with the same --dir must find it empty
    throw err;
  }
  const stop = new AbortController();
  const onSignal = (signal: string) => () => {
    if (stop.signal.aborted) return;
    io.err(`\nwarden: ${signal}: stopping the demo…\n`);
    stop.abort();
  };
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  signals.on('SIGINT', onInt);
  signals.on('SIGTERM', onTerm);
  let code: number = EXIT.ok;
  try {
    await tellStory(server, o, io, { db, dir, fellBack }, stop.signal);
  } catch (err) {
    if (!(err instanceof DemoAborted)) {
      io.err(`warden: the demo failed: ${describeError(err)}\n`);
      code = EXIT.failed;
    }
  } finally {
    signals.off('SIGINT', onInt);
    signals.off('SIGTERM', onTerm);
    const closed = await stopServer(server, config, io);
    if (closed !== EXIT.ok) code = closed;
  }
  return code;
}

/** Keys, the intro, the scripted agent, what to look at; then, unless --exit, serving until a signal. */
async function tellStory(
  server: WardenServer,
  o: DemoOptions,
  io: CliIo,
  place: { db: string; dir: string; fellBack: boolean },
  signal: AbortSignal,
): Promise<void> {
  const keys = await createDemoKeys(server.ctx.engine, o.autoApprove === true);
  const at = { url: server.url, ...place };
  printDemoIntro(io, at, { ...keys, ...(server.bootstrap ? { admin: server.bootstrap.secret } : {}) });
  const auto = keys.autoApprover;
  const taskTokens = await startDemoTasks(server.url, server.ctx.engine, Object.values(DEMO_SESSIONS));
  const story = await runDemoScript({
    url: server.url,
    agentKey: keys.agent,
    taskTokens,
    io,
    signal,
    approvalTimeoutMs: auto ? AUTO_APPROVAL_MS : HUMAN_APPROVAL_MS,
    askHuman: auto === undefined,
    ...(auto
      ? { onReview: (p: { approvalId: string }) => approveLater(server.url, auto, p.approvalId, io) }
      : {}),
  });
  printWhatToLookAt(io, at, story, o.exit !== true);
  if (o.exit !== true && !signal.aborted) {
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }
}

/** The stand-in approver of --auto-approve: votes through the HTTP API, as the dashboard would. */
function approveLater(url: string, key: string, approvalId: string, io: CliIo): void {
  setTimeout(() => {
    apiClient({ url, key })
      .post(`/v1/approvals/${encodeURIComponent(approvalId)}/approve`, {
        reason: 'approved by the demo approver (--auto-approve)',
      })
      .catch((err: unknown) =>
        io.err(`warden: the demo approver could not approve: ${describeError(err)}\n`),
      );
  }, AUTO_APPROVE_AFTER_MS).unref();
}

/** Stops the server as `warden serve` does on a signal: drain, flush the audit, sign a final checkpoint. */
async function stopServer(server: WardenServer, config: ServerConfig, io: CliIo): Promise<number> {
  try {
    const timeout = new Promise<'timeout'>((r) =>
      setTimeout(() => r('timeout'), config.shutdownTimeoutMs).unref(),
    );
    const result = await Promise.race([server.close().then(() => 'closed' as const), timeout]);
    if (result === 'timeout') {
      io.err(`warden: shutdown took longer than ${config.shutdownTimeoutMs} ms\n`);
      return EXIT.failed;
    }
    io.err('warden: stopped; the audit trail is flushed and checkpointed.\n');
    return EXIT.ok;
  } catch (err) {
    io.err(`warden: shutdown failed: ${describeError(err)}\n`);
    return EXIT.failed;
  }
}

/** Removes what a failed start left in the demo's folder (the database and its key file), nothing else. */
function removeDemoFiles(dir: string): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    if (name.startsWith(DEMO_DB_FILE)) rmSync(join(dir, name), { force: true });
  }
}
