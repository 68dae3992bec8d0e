import { parseDuration, WardenError } from '@warden/core';
import {
  type ApiKeyPermission,
  type ApiRole,
  createApiKey,
  type PrincipalKind,
  publicView,
  revokeApiKey,
} from '@warden/engine';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../cli-io.js';
import { renderTable } from '../table.js';
import { humanActor, type StoreFlags, withEngine, withStore } from './audit-store.js';

export interface KeyCreateOptions extends StoreFlags {
  readonly agent?: string;
  readonly human?: string;
  readonly service?: string;
  readonly role?: string;
  readonly label?: string;
  readonly expires?: string;
  readonly permission?: readonly string[];
  readonly by?: string;
  readonly json?: boolean;
}

/** `warden keys create`: prints the secret once, with how to use it. */
export async function keysCreate(o: KeyCreateOptions, io: CliIo): Promise<number> {
  const given = [o.agent && 'agent', o.human && 'human', o.service && 'service'].filter(
    Boolean,
  ) as PrincipalKind[];
  if (given.length !== 1) {
    throw new WardenError(
      'USAGE',
      'name exactly one principal: --agent NAME, --human NAME or --service NAME',
    );
  }
  const kind = given[0] as PrincipalKind;
  const principal = (o.agent ?? o.human ?? o.service) as string;
  const role = (kind === 'agent' ? (o.role ?? 'agent') : o.role) as ApiRole | undefined;
  if (!role) throw new WardenError('USAGE', `--${kind} keys need --role approver, admin or auditor`);
  const expiresAt = o.expires ? expiry(o.expires) : null;
  const created = await withEngine(o, io, (engine) =>
    createApiKey(
      engine,
      {
        principalKind: kind,
        principal,
        role,
        label: o.label ?? null,
        expiresAt,
        ...(o.permission?.length ? { permissions: o.permission as ApiKeyPermission[] } : {}),
      },
      humanActor(o.by),
    ),
  );
  if (o.json) {
    io.out(`${JSON.stringify({ key: publicView(created.key), secret: created.secret })}\n`);
    return EXIT.ok;
  }
  io.out(
    `Created ${created.key.id} for ${kind} ${principal} (role ${role}${o.permission?.length ? `, permissions ${o.permission.join(', ')}` : ''}${expiresAt ? `, expires ${expiresAt}` : ''}).\n`,
  );
  io.out(`The secret is shown this once; store it now:\n\n  ${created.secret}\n\n`);
  io.out('Use it as:  Authorization: Bearer <secret>\n');
  return EXIT.ok;
}

/** `warden keys list`: a table of keys (never secrets). */
export async function keysList(o: StoreFlags & { json?: boolean }, io: CliIo): Promise<number> {
  const keys = await withStore(o.db, io, (store) => store.apiKeys());
  if (o.json) {
    for (const k of keys) io.out(`${JSON.stringify(publicView(k))}\n`);
    return EXIT.ok;
  }
  const now = Date.now();
  const state = (k: (typeof keys)[number]) =>
    k.revokedAt
      ? `revoked ${k.revokedAt.slice(0, 10)}`
      : k.expiresAt && Date.parse(k.expiresAt) <= now
        ? 'expired'
        : 'active';
  io.out(
    `${renderTable(
      ['id', 'starts', 'principal', 'role', 'permissions', 'state', 'expires', 'created'],
      keys.map((k) => [
        k.id,
        `${k.prefix}…`,
        `${k.principalKind}:${k.principal}`,
        k.role,
        k.permissions?.length ? k.permissions.join(',') : '—',
        state(k),
        k.expiresAt?.slice(0, 16) ?? '—',
        k.createdAt.slice(0, 16),
      ]),
      [48, 16, 40, 10, 12, 20, 16, 16],
    )}\n`,
  );
  return EXIT.ok;
}

/** `warden keys revoke ID`. */
export async function keysRevoke(
  id: string,
  o: StoreFlags & { by?: string; reason?: string },
  io: CliIo,
): Promise<number> {
  const key = await withEngine(o, io, (engine) => revokeApiKey(engine, id, humanActor(o.by), o.reason));
  io.out(
    `Revoked ${key.id} (${key.principalKind}:${key.principal}). Every instance refuses it within a second.\n`,
  );
  return EXIT.ok;
}

function expiry(text: string): string {
  const ms = parseDuration(text.trim());
  if (ms !== undefined && ms > 0) return new Date(Date.now() + ms).toISOString();
  const t = Date.parse(text);
  if (!Number.isNaN(t) && /^\d{4}-\d{2}-\d{2}/.test(text)) return new Date(t).toISOString();
  throw new WardenError('USAGE', `--expires "${text}" is not a duration (30d, 12h) or an ISO time`);
}
