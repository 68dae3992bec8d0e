import { hashApiSecret, openStore } from '@warden/engine';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../test/audit-fixtures.js';
import { run, useAuditCopies } from '../test/cli-run.js';

const STACK = /\n\s+at .*:\d+:\d+/;
const SECRET = /\bwdn_[A-Za-z0-9_-]{43}\b/;

const fresh = useAuditCopies({ calls: 3, unsigned: 0 });

describe('warden keys', () => {
  it('creates an agent key, shows the secret once and stores only its hash, with an audit event', async () => {
    const { db, run } = fresh();
    const r = await run('keys', 'create', '--agent', 'support-bot', '--by', 'alice');
    expect(r.code).toBe(0);
    const secret = SECRET.exec(r.out)?.[0] as string;
    expect(secret).toBeDefined();
    expect(r.out).toContain('role agent');
    const store = await openStore(db);
    try {
      const keys = await store.apiKeys();
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatchObject({
        principalKind: 'agent',
        principal: 'support-bot',
        role: 'agent',
        createdBy: 'alice',
      });
      expect(keys[0]?.hash).toBe(hashApiSecret(secret));
      expect(JSON.stringify(keys)).not.toContain(secret);
      const events = await store.queryAudit({ type: 'api_key.created', limit: 10 });
      expect(events.records).toHaveLength(1);
      expect(JSON.stringify(events.records)).not.toContain(secret);
    } finally {
      await store.close();
    }
    const list = await run('keys', 'list');
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/agent:support-bot\s+agent\s+—\s+active/);
    expect(list.out).not.toContain(secret);
  });

  it('gives a service key the initiator permission (schema 10), shown in the list; only service keys hold it', async () => {
    const { db, run } = fresh();
    const r = await run(
      'keys',
      'create',
      '--service',
      'portal',
      '--role',
      'auditor',
      '--permission',
      'initiator',
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('permissions initiator');
    const store = await openStore(db);
    try {
      expect((await store.apiKeys())[0]?.permissions).toEqual(['initiator']);
    } finally {
      await store.close();
    }
    expect((await run('keys', 'list')).out).toMatch(/service:portal\s+auditor\s+initiator\s+active/);
    const agent = await run('keys', 'create', '--agent', 'bot', '--permission', 'initiator');
    expect(agent.code).toBe(2);
    expect(agent.err).toContain('the initiator permission is for service keys');
    const unknown = await run(
      'keys',
      'create',
      '--service',
      'x',
      '--role',
      'auditor',
      '--permission',
      'root',
    );
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toMatch(/initiator/);
  });

  it('refuses an agent key with another role, a human key without a role, and two principals', async () => {
    const { run } = fresh();
    const bad = [
      ['keys', 'create', '--agent', 'bot', '--role', 'admin'],
      ['keys', 'create', '--human', 'alice'],
      ['keys', 'create', '--human', 'alice', '--agent', 'bot', '--role', 'admin'],
      ['keys', 'create', '--human', 'alice', '--role', 'approver', '--expires', 'soon'],
    ];
    for (const argv of bad) {
      const r = await run(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toMatch(/\[(USAGE|REQUEST_INVALID)\]/);
      expect(r.err).not.toMatch(STACK);
    }
  });

  it('revokes a key once; a second revoke and an unknown id are clear errors', async () => {
    const { db, run } = fresh();
    const created = await run(
      'keys',
      'create',
      '--human',
      'bob',
      '--role',
      'approver',
      '--expires',
      '30d',
      '--json',
    );
    const { key } = JSON.parse(created.out) as { key: { id: string; expiresAt: string } };
    expect(Date.parse(key.expiresAt)).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    const r = await run('keys', 'revoke', key.id, '--reason', 'left the team', '--by', 'carol');
    expect(r.code).toBe(0);
    const again = await run('keys', 'revoke', key.id);
    expect(again.code).toBe(2);
    expect(again.err).toContain('[KEY_REVOKED]');
    const unknown = await run('keys', 'revoke', 'key_nope');
    expect(unknown.err).toContain('[KEY_NOT_FOUND]');
    const store = await openStore(db);
    try {
      expect((await store.apiKey(key.id))?.revokedBy).toBe('carol');
    } finally {
      await store.close();
    }
    expect((await run('keys', 'list')).out).toMatch(/human:bob\s+approver\s+—\s+revoked/);
  });

  it('never creates a database: a missing --db is a clear error', async () => {
    const r = await run(['keys', 'create', '--agent', 'bot', '--db', 'nowhere.db'], tempDir());
    expect(r.code).toBe(2);
    expect(r.err).toContain('no database at nowhere.db');
  });
});
