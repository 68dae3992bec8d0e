import { isWardenError, WardenError } from '@warden/core';
import { type CliIo, EXIT } from '../cli-io.js';
import { type ApiFlags, apiClient, baseUrl } from './api-client.js';
import { localTime } from './budgets.js';
import { loadSignIn } from './credentials.js';

/** What POST /v1/tasks answers (@warden/api's StartedTask), as far as the CLI reads it. */
interface StartedTask {
  readonly token: string;
  readonly taskId: string;
  readonly session: string;
  readonly agent: string;
  readonly expiresAt: string;
  readonly initiator: { readonly method: string; readonly name: string; readonly keyId?: string };
}

/** The longest task token the server issues, in seconds (24 h). */
const MAX_TTL_SECONDS = 86_400;

export interface TasksStartOptions extends ApiFlags {
  readonly agent: string;
  readonly session?: string;
  readonly ttl?: string;
  readonly label?: readonly string[];
  readonly initiatorSubject?: string;
  readonly initiatorName?: string;
  readonly json?: boolean;
  readonly export?: boolean;
  /** Where `--key` came from (`env`: WARDEN_KEY), to say so when the server refuses it. */
  readonly keySource?: string;
}

/**
 * `warden tasks start --agent NAME`: starts a task for a coding assistant (or any agent) with the caller
 * as its initiator — the person `warden login` signed in (their identity verified by the IdP), or, with
 * `--key` of a service key holding the initiator permission, the person it names. Prints the task token
 * alone on stdout (`export WARDEN_TASK_TOKEN=$(warden tasks start --agent claude-code)`), `--export` an
 * `export` line, `--json` the whole answer; a short line on stderr says which session and until when.
 */
export async function tasksStart(o: TasksStartOptions, io: CliIo): Promise<number> {
  if (o.json && o.export) throw new WardenError('USAGE', '--json and --export: choose one');
  if ((o.initiatorSubject === undefined) !== (o.initiatorName === undefined)) {
    throw new WardenError('USAGE', '--initiator-subject and --initiator-name go together (a service key)');
  }
  const body = {
    agent: o.agent,
    ...(o.session !== undefined ? { session: o.session } : {}),
    ...(o.ttl !== undefined ? { ttl: parseTtl(o.ttl) } : {}),
    ...(o.label?.length ? { labels: parseLabels(o.label) } : {}),
    ...(o.initiatorSubject !== undefined && o.initiatorName !== undefined
      ? { initiator: { subject: o.initiatorSubject, name: o.initiatorName } }
      : {}),
  };
  baseUrl(o.url); // a bad --url is a usage error naming it, before the saved sign-ins are looked up
  if (!o.key?.trim() && !loadSignIn(o.url)) {
    throw new WardenError(
      'USAGE',
      `sign in first with \`warden login --url ${o.url}\`: the task is started with you as its initiator (or set --key to a service key holding the initiator permission, with --initiator-subject and --initiator-name)`,
    );
  }
  let task: StartedTask;
  try {
    task = await apiClient(o).post<StartedTask>('/v1/tasks', body);
  } catch (err) {
    // A key in the environment (often an agent's, for the hook) wins over the saved sign-in: say so.
    if (isWardenError(err, 'FORBIDDEN') && o.key && o.keySource === 'env') {
      throw new WardenError(
        'FORBIDDEN',
        `${err.message} (the key came from WARDEN_KEY; unset it to start the task as the person \`warden login\` signed in)`,
        err.details,
      );
    }
    throw err;
  }
  if (o.json) io.out(`${JSON.stringify(task)}\n`);
  else if (o.export) io.out(exportLine(task.token));
  else io.out(`${task.token}\n`);
  const who =
    task.initiator.method === 'oidc' ? 'verified by SSO' : `vouched for by key ${task.initiator.keyId}`;
  io.err(
    `started task ${task.taskId} for ${task.agent} as ${task.initiator.name} (${who}): session ${task.session}, expires ${localTime(task.expiresAt)}\n`,
  );
  return EXIT.ok;
}

/**
 * The `--export` line, for `eval`: the token quoted for the shell, since it is the server's text and
 * must never run as commands.
 */
export function exportLine(token: string): string {
  return `export WARDEN_TASK_TOKEN=${shellQuote(token)}\n`;
}

/** `s` in single quotes for a POSIX shell (a `'` inside becomes `'\\''`). */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `--ttl 7200` → 7200; anything but a whole number of seconds from 1 to 86400 says the form. */
export function parseTtl(text: string): number {
  const t = text.trim();
  const n = /^\d{1,6}$/.test(t) ? Number(t) : Number.NaN;
  if (!(n >= 1 && n <= MAX_TTL_SECONDS)) {
    throw new WardenError(
      'USAGE',
      `--ttl "${text}" must be the token's lifetime in whole seconds, 1 to ${MAX_TTL_SECONDS} (24 h); e.g. --ttl 7200`,
    );
  }
  return n;
}

/** `--label repo=warden --label ticket=OPS-1` → { repo: 'warden', ticket: 'OPS-1' }; a bad one says the form. */
export function parseLabels(pairs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const key = at > 0 ? pair.slice(0, at).trim() : '';
    if (!key) {
      throw new WardenError('USAGE', `--label "${pair}" must be KEY=VALUE, e.g. --label repo=warden`);
    }
    if (Object.hasOwn(labels, key)) throw new WardenError('USAGE', `--label ${key} is given twice`);
    labels[key] = pair.slice(at + 1);
  }
  return labels;
}
