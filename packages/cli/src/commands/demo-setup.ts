import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Actor, systemActor, WardenError } from '@warden/core';
import { createApiKey, type Engine } from '@warden/engine';
import type { CliIo } from '../cli-io.js';
import { DEMO_AGENT, DEMO_PEOPLE } from './demo-cast.js';

/** The port `warden demo` tries first, as `warden serve` does. */
export const DEMO_PORT = 7400;

/** The file names the demo writes in its folder. */
export const DEMO_DB_FILE = 'warden.db';

const DEMO_ACTOR: Actor = systemActor('warden-demo');

/**
 * The demo's folder: a new temporary one, or `dir` when it is missing or empty. A folder with anything in
 * it is refused: the demo starts from a fresh database and never writes over someone's data.
 */
export function prepareDemoDir(dir: string | undefined, io: CliIo): string {
  if (dir === undefined || dir === '') return mkdtempSync(join(tmpdir(), 'warden-demo-'));
  const path = resolve(io.cwd, dir);
  if (!existsSync(path)) {
    mkdirSync(path, { recursive: true });
    return path;
  }
  if (!statSync(path).isDirectory()) {
    throw new WardenError('USAGE', `--dir ${dir} is a file; the demo needs a new or empty folder`);
  }
  const entries = readdirSync(path);
  if (entries.length === 0) return path;
  const what = entries.includes(DEMO_DB_FILE)
    ? `already holds a Warden database (${DEMO_DB_FILE})`
    : `is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'})`;
  throw new WardenError(
    'USAGE',
    `--dir ${dir} ${what}; the demo always starts on a fresh database and leaves existing data alone. Pass a new or empty folder, or leave --dir out for a temporary one (to look at an earlier demo, run \`warden serve --db ${join(dir, DEMO_DB_FILE)}\`)`,
  );
}

/**
 * The port to listen on: `--port` as given (0 picks a free one), else 7400, or a free port when 7400 is
 * taken (`fellBack` says so). An explicit port that is taken fails at listen, naming it.
 */
export async function chooseDemoPort(
  flag: string | undefined,
  host: string,
): Promise<{ port: number; fellBack: boolean }> {
  if (flag !== undefined) {
    const port = Number(flag);
    if (!/^\d+$/.test(flag) || port > 65_535) {
      throw new WardenError('USAGE', `--port ${flag} is not a port number (0 to 65535; 0 picks a free one)`);
    }
    return { port, fellBack: false };
  }
  return (await portIsFree(DEMO_PORT, host))
    ? { port: DEMO_PORT, fellBack: false }
    : { port: 0, fellBack: true };
}

function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', () => done(false));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => done(true)));
  });
}

/** The keys of the demo: the scripted agent's, the approver's, and the stand-in's of --auto-approve. */
export interface DemoKeys {
  readonly agent: string;
  readonly approver: string;
  readonly autoApprover?: string;
}

/**
 * Starts the story's tasks the way an application does: the demo's portal (a service key holding the
 * initiator permission) asks POST /v1/tasks for one task per session, each triggered by the requester.
 * The answer is each session's task token, which the agent sends with its calls (Warden-Task-Token):
 * the demo policy believes who triggered a call only from a token.
 */
export async function startDemoTasks(
  url: string,
  engine: Engine,
  sessions: readonly string[],
): Promise<Record<string, string>> {
  const portal = await createApiKey(
    engine,
    {
      principalKind: 'service',
      principal: 'demo-portal',
      role: 'auditor',
      label: 'warden demo',
      permissions: ['initiator'],
    },
    DEMO_ACTOR,
  );
  const tokens: Record<string, string> = {};
  for (const session of sessions) {
    const res = await fetch(`${url}/v1/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${portal.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        agent: DEMO_AGENT,
        session,
        initiator: { subject: DEMO_PEOPLE.requester, name: DEMO_PEOPLE.requester },
      }),
    });
    const body = (await res.json()) as { token?: string; error?: { message: string } };
    if (!res.ok || !body.token) {
      throw new WardenError(
        'INTERNAL',
        `the demo could not start its task: ${body.error?.message ?? res.status}`,
      );
    }
    tokens[session] = body.token;
  }
  return tokens;
}

/** Creates the demo's keys on the fresh database (each recorded as `api_key.created`). */
export async function createDemoKeys(engine: Engine, autoApprove: boolean): Promise<DemoKeys> {
  const make = async (principalKind: 'agent' | 'human', principal: string, role: 'agent' | 'approver') =>
    (await createApiKey(engine, { principalKind, principal, role, label: 'warden demo' }, DEMO_ACTOR)).secret;
  return {
    agent: await make('agent', DEMO_AGENT, 'agent'),
    approver: await make('human', DEMO_PEOPLE.approver, 'approver'),
    ...(autoApprove ? { autoApprover: await make('human', DEMO_PEOPLE.autoApprover, 'approver') } : {}),
  };
}
