import type { Session, SessionDetail, SessionList, SessionUsage } from '@warden/api';
import { WardenError } from '@warden/core';
import { type CliIo, EXIT } from '../cli-io.js';
import { renderTable } from '../table.js';
import { type ApiFlags, apiClient, withQuery } from './api-client.js';
import { parseCount, shellArg } from './audit-store.js';
import { budgetTable, localTime } from './budgets.js';

/** What a session has used, as GET /v1/sessions/:id answers it. */
export type SessionUsageView = SessionUsage;

/** GET /v1/sessions/:id. */
export type { SessionDetail };

export interface SessionsListOptions extends ApiFlags {
  readonly paused?: boolean;
  readonly agent?: string;
  readonly limit?: string;
  readonly cursor?: string;
  readonly json?: boolean;
}

/** `warden sessions list`: sessions, most recently active first; only paused ones with --paused. */
export async function sessionsList(o: SessionsListOptions, io: CliIo): Promise<number> {
  const page = await apiClient(o).get<SessionList>(
    withQuery('/v1/sessions', {
      state: o.paused ? 'paused' : undefined,
      agent: o.agent,
      limit: parseCount('--limit', o.limit, '50'),
      cursor: o.cursor,
    }),
  );
  if (o.json) {
    io.out(`${JSON.stringify(page)}\n`);
    return EXIT.ok;
  }
  if (page.sessions.length === 0) {
    io.err(`no ${o.paused ? 'paused ' : ''}sessions${o.agent ? ` of agent ${o.agent}` : ''}\n`);
  } else {
    io.out(
      `${renderTable(
        ['id', 'agent', 'state', 'since', 'triggered by', 'reason'],
        page.sessions.map((s) => [
          s.id,
          s.agent,
          s.state,
          localTime(s.updatedAt),
          s.triggeredBy ?? '—',
          s.stateReason ?? '—',
        ]),
        [48, 24, 8, 16, 24, 64],
      )}\n`,
    );
    if (o.paused) io.err('resume one with: warden sessions resume ID --reason TEXT [--raise BUDGET=LIMIT]\n');
  }
  if (page.nextCursor) io.err(`more: --cursor ${shellArg(page.nextCursor)}\n`);
  return EXIT.ok;
}

/** `warden sessions show ID`: the session's state, what it has used, and each budget it draws on. */
export async function sessionsShow(id: string, o: ApiFlags & { json?: boolean }, io: CliIo): Promise<number> {
  const d = await apiClient(o).get<SessionDetail>(`/v1/sessions/${encodeURIComponent(id)}`);
  io.out(o.json ? `${JSON.stringify(d)}\n` : describeSession(d));
  return EXIT.ok;
}

/** `warden sessions pause ID --reason TEXT`: every further call of the session is blocked until a resume. */
export async function sessionsPause(
  id: string,
  o: ApiFlags & { reason: string; json?: boolean },
  io: CliIo,
): Promise<number> {
  const s = await apiClient(o).post<Session>(`/v1/sessions/${encodeURIComponent(id)}/pause`, {
    reason: o.reason,
  });
  if (o.json) io.out(`${JSON.stringify(s)}\n`);
  else io.out(`Paused ${s.id} (${s.agent}): its calls are blocked until someone resumes it.\n`);
  return EXIT.ok;
}

/**
 * `warden sessions resume ID --reason TEXT [--raise BUDGET=LIMIT …]`: a person with no stake in the
 * session resumes it, optionally raising budgets for their current window.
 */
export async function sessionsResume(
  id: string,
  o: ApiFlags & { reason: string; raise?: readonly string[]; json?: boolean },
  io: CliIo,
): Promise<number> {
  const raise = (o.raise ?? []).map(parseRaise);
  const s = await apiClient(o).post<Session>(`/v1/sessions/${encodeURIComponent(id)}/resume`, {
    reason: o.reason,
    ...(raise.length > 0 ? { raise } : {}),
  });
  if (o.json) {
    io.out(`${JSON.stringify(s)}\n`);
    return EXIT.ok;
  }
  io.out(`Resumed ${s.id} (${s.agent}).\n`);
  for (const r of raise) io.out(`Raised ${r.budget} to ${r.limit} for its current window.\n`);
  return EXIT.ok;
}

/** `daily-spend=50` → { budget: 'daily-spend', limit: 50 }; anything else is a USAGE error saying the form. */
export function parseRaise(text: string): { budget: string; limit: number } {
  const m = /^([^=\s]+)=\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)$/i.exec(text.trim());
  const limit = m ? Number(m[2]) : Number.NaN;
  if (!m?.[1] || !(limit > 0) || !Number.isFinite(limit)) {
    throw new WardenError(
      'USAGE',
      `--raise "${text}" must be BUDGET=LIMIT with a positive limit in the budget's unit, e.g. --raise daily-spend=50`,
    );
  }
  return { budget: m[1], limit };
}

/** The readable block `sessions show` prints. */
export function describeSession(d: SessionDetail): string {
  const { session: s, usage: u } = d;
  const rows: [string, string][] = [
    ['agent', s.agent],
    ['state', s.stateReason ? `${s.state}: ${s.stateReason}` : s.state],
    ['triggered by', s.triggeredBy ?? '—'],
    ['delegation', s.delegationChain.length > 0 ? [...s.delegationChain, s.agent].join(' → ') : '—'],
    ['created', localTime(s.createdAt)],
    ['updated', localTime(s.updatedAt)],
    [
      'calls',
      `${u.calls.allow} allowed, ${u.calls.review} reviewed, ${u.calls.block} blocked; ${u.completed} completed, ${u.errors} failed`,
    ],
    ['tokens', `${u.inputTokens.toLocaleString('en-US')} in, ${u.outputTokens.toLocaleString('en-US')} out`],
    ['cost', `$${u.costUsd.toFixed(2)}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = [`Session ${s.id}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}${v}`)];
  if (s.state === 'paused') {
    lines.push(
      `  resume with: warden sessions resume ${shellArg(s.id)} --reason TEXT [--raise BUDGET=LIMIT]`,
    );
  }
  lines.push('', d.budgets.length > 0 ? budgetTable(d.budgets) : 'No budget counters for this session yet.');
  return `${lines.join('\n')}\n`;
}
