import { hash, randomBytes } from 'node:crypto';
import { type Actor, reservedPrincipalName, uuidv7, WARDEN_ACTOR, WardenError } from '@warden/core';
import type { Engine } from '../engine/engine.js';
import type { ApiKeyPermission, ApiKeyRecord, ApiRole, PrincipalKind } from '../store/store.js';

/** Every secret starts with this, so a leaked one is recognisable (and secret scanners can find it). */
export const API_KEY_PREFIX = 'wdn_';
const SECRET_SHAPE = /^wdn_[A-Za-z0-9_-]{43}$/;

/**
 * A new random secret: 256 bits. Because it is random and long, a plain SHA-256 is the right hash for
 * storing it; a slow password hash would only add latency to every request.
 */
export function generateApiSecret(): string {
  return `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** The stored form of a secret. */
export function hashApiSecret(secret: string): string {
  return hash('sha256', secret, 'hex');
}

/** True when `secret` has the shape Warden gives its keys (checked before any lookup). */
export function isApiSecretShape(secret: string): boolean {
  return SECRET_SHAPE.test(secret);
}

export interface NewApiKey {
  readonly principalKind: PrincipalKind;
  readonly principal: string;
  readonly role: ApiRole;
  readonly label?: string | null;
  /** ISO time after which the key stops working. */
  readonly expiresAt?: string | null;
  /** Beyond the role: `initiator` (service keys only) may start tasks for a person it vouches for. */
  readonly permissions?: readonly ApiKeyPermission[];
}

/** A created key: the record as stored and the secret, which exists nowhere else from now on. */
export interface CreatedApiKey {
  readonly key: ApiKeyRecord;
  readonly secret: string;
}

/**
 * Creates a key and records `api_key.created` in the same transaction. An agent principal always gets
 * the `agent` role and an `agent` role always belongs to an agent principal: an agent key can never be
 * made into an approver.
 */
export async function createApiKey(
  engine: Engine,
  spec: NewApiKey,
  by: Actor,
  options: { secret?: string; onlyIfNone?: boolean } = {},
): Promise<CreatedApiKey> {
  checkSpec(spec);
  const secret = options.secret ?? generateApiSecret();
  if (!isApiSecretShape(secret)) {
    throw new WardenError(
      'CONFIG_INVALID',
      `an API key must look like ${API_KEY_PREFIX} followed by 43 base64url characters; generate one with \`warden keys create\` or leave it unset`,
    );
  }
  const ts = new Date().toISOString();
  const key: ApiKeyRecord = {
    id: `key_${uuidv7()}`,
    hash: hashApiSecret(secret),
    prefix: secret.slice(0, 12),
    principalKind: spec.principalKind,
    principal: spec.principal,
    role: spec.role,
    label: spec.label ?? null,
    createdAt: ts,
    createdBy: by.id,
    expiresAt: spec.expiresAt ?? null,
    revokedAt: null,
    revokedBy: null,
    permissions: [...new Set(spec.permissions ?? [])],
  };
  const event = engine.systemEvent('api_key.created', by, {
    ...(spec.principalKind === 'agent' ? { agent: spec.principal } : {}),
    data: publicView(key),
  });
  await engine.commit({
    mutations: [{ kind: 'api_key.create', key, ...(options.onlyIfNone ? { onlyIfNone: true } : {}) }],
    events: [event],
  });
  return { key, secret };
}

/** Revokes a key for good, recording `api_key.revoked`. KEY_NOT_FOUND / KEY_REVOKED when it cannot. */
export async function revokeApiKey(
  engine: Engine,
  id: string,
  by: Actor,
  reason?: string,
): Promise<ApiKeyRecord> {
  const ts = new Date().toISOString();
  const event = engine.systemEvent('api_key.revoked', by, { data: { id, ...(reason ? { reason } : {}) } });
  await engine.commit({ mutations: [{ kind: 'api_key.revoke', id, by: by.id, ts }], events: [event] });
  const after = await engine.store.apiKey(id);
  if (!after) throw new WardenError('KEY_NOT_FOUND', `no API key has id ${id}`);
  return after;
}

/**
 * On a database with no keys at all, creates the first admin key (from `secret` when given, e.g. from
 * WARDEN_ADMIN_KEY). Returns undefined when keys already exist, also when another instance won the race.
 */
export async function bootstrapAdminKey(engine: Engine, secret?: string): Promise<CreatedApiKey | undefined> {
  if ((await engine.store.apiKeys()).length > 0) return undefined;
  try {
    return await createApiKey(
      engine,
      { principalKind: 'human', principal: 'admin', role: 'admin', label: 'bootstrap admin key' },
      WARDEN_ACTOR,
      { onlyIfNone: true, ...(secret ? { secret } : {}) },
    );
  } catch (err) {
    if (err instanceof WardenError && err.code === 'KEYS_EXIST') return undefined;
    throw err;
  }
}

/** A key without its hash: what lists and events show. */
export function publicView(key: ApiKeyRecord): Omit<ApiKeyRecord, 'hash'> {
  const { hash: _hash, ...rest } = key;
  return rest;
}

const NAME = /^[A-Za-z0-9_.:@/-]{1,200}$/;

function checkSpec(spec: NewApiKey): void {
  if (!NAME.test(spec.principal)) {
    throw new WardenError(
      'REQUEST_INVALID',
      `principal ${JSON.stringify(spec.principal)} must be 1-200 characters of letters, digits and _.:@/-`,
      { problems: ['principal: invalid name'] },
    );
  }
  const reserved = reservedPrincipalName(spec.principal);
  if (reserved !== undefined) {
    throw new WardenError(
      'REQUEST_INVALID',
      `principal ${JSON.stringify(spec.principal)} is reserved: ${reserved === spec.principal ? 'it is' : `it reads like "${reserved}", which is`} the name Warden records its own acts under; choose another name`,
      { problems: [`principal: reserved name (${reserved})`] },
    );
  }
  if ((spec.principalKind === 'agent') !== (spec.role === 'agent')) {
    throw new WardenError(
      'REQUEST_INVALID',
      spec.principalKind === 'agent'
        ? `an agent key always has the role agent (not ${spec.role}): agents never approve or administer`
        : `the agent role is for agent keys; give ${spec.principal} approver, admin or auditor`,
      { problems: ['role: does not fit the principal'] },
    );
  }
  if (spec.permissions?.includes('initiator') && spec.principalKind !== 'service') {
    throw new WardenError(
      'REQUEST_INVALID',
      `the initiator permission is for service keys (a trusted backend that signs people in itself), not ${spec.principalKind} keys`,
      { problems: ['permissions: initiator needs principalKind service'] },
    );
  }
  if (spec.expiresAt != null && !(Date.parse(spec.expiresAt) > Date.now())) {
    throw new WardenError('REQUEST_INVALID', `expiresAt (${spec.expiresAt}) must be a time in the future`, {
      problems: ['expiresAt: not in the future'],
    });
  }
}
