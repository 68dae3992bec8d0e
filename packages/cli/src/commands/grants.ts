import type { GrantList, GrantView } from '@warden/api';
import { type CliIo, EXIT } from '../cli-io.js';
import { renderTable } from '../table.js';
import { type ApiFlags, apiClient, withQuery } from './api-client.js';

/** A grant as the API answers it, with whether it is in force now. */
export type { GrantView };

export interface GrantAddOptions extends ApiFlags {
  readonly agent: string;
  readonly tool: string;
  readonly session?: string;
  readonly ttl?: string;
  readonly when?: string;
  readonly reason: string;
  readonly json?: boolean;
}

/** `warden grants add`: lets an agent use a tool the default would block, for a session or a while. */
export async function grantsAdd(o: GrantAddOptions, io: CliIo): Promise<number> {
  const g = await apiClient(o).post<GrantView>('/v1/grants', {
    agent: o.agent,
    tool: o.tool,
    reason: o.reason,
    ...(o.session ? { session: o.session } : {}),
    ...(o.ttl ? { ttl: o.ttl } : {}),
    ...(o.when ? { when: o.when } : {}),
  });
  if (o.json) {
    io.out(`${JSON.stringify(g)}\n`);
    return EXIT.ok;
  }
  const where = g.session ? ` in session ${g.session}` : '';
  const when = g.when ? ` when ${g.when}` : '';
  io.out(`Granted ${g.id}: ${g.agent} may call ${g.tool}${where}${when} until ${g.expiresAt}.\n`);
  io.out('A grant only lifts the default block: block rules and reviews still apply.\n');
  return EXIT.ok;
}

/** `warden grants list`: grants in force (all of them with --all), newest first. */
export async function grantsList(
  o: ApiFlags & { agent?: string; all?: boolean; json?: boolean },
  io: CliIo,
): Promise<number> {
  const { grants } = await apiClient(o).get<GrantList>(
    withQuery('/v1/grants', { agent: o.agent, all: o.all ? true : undefined }),
  );
  if (o.json) {
    io.out(`${JSON.stringify({ grants })}\n`);
    return EXIT.ok;
  }
  if (grants.length === 0) {
    io.err(o.all ? 'no grants\n' : 'no grants in force (--all shows revoked and expired ones)\n');
    return EXIT.ok;
  }
  io.out(
    `${renderTable(
      ['id', 'agent', 'tool', 'session', 'expires', 'state', 'by', 'reason'],
      grants.map((g) => [
        g.id,
        g.agent,
        g.when ? `${g.tool} when ${g.when}` : g.tool,
        g.session ?? '(any)',
        g.expiresAt.slice(0, 16),
        g.revokedAt ? 'revoked' : g.active ? 'active' : 'expired',
        g.createdBy,
        g.reason,
      ]),
      [48, 24, 64, 40, 16, 8, 24, 48],
    )}\n`,
  );
  return EXIT.ok;
}

/** `warden grants revoke ID`: the grant stops lifting the block at once, on every instance. */
export async function grantsRevoke(
  id: string,
  o: ApiFlags & { reason?: string; json?: boolean },
  io: CliIo,
): Promise<number> {
  const g = await apiClient(o).post<GrantView>(`/v1/grants/${encodeURIComponent(id)}/revoke`, {
    ...(o.reason ? { reason: o.reason } : {}),
  });
  if (o.json) io.out(`${JSON.stringify(g)}\n`);
  else io.out(`Revoked ${g.id} (${g.agent} may no longer call ${g.tool} through it).\n`);
  return EXIT.ok;
}
