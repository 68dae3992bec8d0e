/**
 * Who did it, through real `warden serve` processes on SQLite and PostgreSQL: every event made with an API
 * key names the key and its kind (`service` for a service key, never `system`); only Warden's own acts are
 * `system`, with no key; no key may be named like Warden; a key an older version let be named `warden`
 * keeps working but is recorded as itself and named at every start; and a look-alike `triggeredBy` (a
 * Cyrillic о in `tom`) does not let tom approve his own task. Needs the built CLI (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Actor, AuditRecord } from '@warden/core';
import { hashApiSecret, openStore } from '@warden/engine';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../engine/test-support/postgres-server.js';
import { eventually } from '../test-support/eventually.js';
import { api, BIN, killAll, logged, type Served, spawnServe, warden } from '../test-support/serve-process.js';

const POLICY = fileURLToPath(new URL('./fixtures/identity-policy.yaml', import.meta.url));
const TOM_CYRILLIC = 't\u043em';

interface Key {
  readonly id: string;
  readonly secret: string;
}

interface Decision {
  callId: string;
  session: string;
  effect: string;
  approval?: { id: string; status: string };
}

let dir: string;

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-identity-'));
});

afterAll(() => {
  killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every audit record, oldest first, paging through GET /v1/audit/events. */
async function allRecords(base: string, key: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  let cursor: string | null = null;
  do {
    const q: string = `limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await api<{ records: AuditRecord[]; nextCursor: string | null }>(
      base,
      'GET',
      `/v1/audit/events?${q}`,
      { key },
    );
    expect(page.status).toBe(200);
    out.push(...page.body.records);
    cursor = page.body.nextCursor;
  } while (cursor);
  return out;
}

describe.each(['sqlite', 'postgres'] as const)('who did it, through warden serve (%s)', (dialect) => {
  const adminSecret = `wdn_${randomBytes(32).toString('base64url')}`;
  let db: string;
  let keysFile: string;
  let server: Served;
  const keys: Record<string, Key> = {};

  /** `warden keys create … --json` against the database. */
  async function createKey(name: string, ...who: string[]): Promise<Key> {
    const r = await warden(['keys', 'create', ...who, '--db', db, '--keys', keysFile, '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const made = JSON.parse(r.out) as { key: { id: string }; secret: string };
    keys[name] = { id: made.key.id, secret: made.secret };
    return keys[name];
  }

  const call = (body: Record<string, unknown>) =>
    api<Decision>(server.url, 'POST', '/v1/calls', { key: keys.agent?.secret, body });

  beforeAll(async () => {
    db =
      dialect === 'sqlite'
        ? join(dir, 'identity.db')
        : await createTestDatabase(inject('postgresUrl'), 'identity');
    keysFile = join(dir, `${dialect}-keys.json`);
    server = await spawnServe(['--db', db, '--port', '0', '--keys', keysFile, '--policy', POLICY], {
      WARDEN_ADMIN_KEY: adminSecret,
      WARDEN_LOG_LEVEL: 'warn',
    });
    await createKey('agent', '--agent', 'support-bot');
    await createKey('tom', '--human', 'tom', '--role', 'approver');
    await createKey('tim', '--human', 'tim', '--role', 'approver');
    await createKey('service', '--service', 'ci-bot', '--role', 'admin');
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('refuses a key named warden, system, any other id Warden acts under, or a look-alike, on the CLI and over HTTP', async () => {
    for (const who of [
      ['--service', 'warden', '--role', 'admin'],
      ['--service', 'System', '--role', 'auditor'],
      ['--human', 'WARDEN', '--role', 'approver'],
      ['--agent', 'systern'],
      // Every id Warden records its own acts under, and ASCII pairs that read as one letter.
      ['--service', 'retention', '--role', 'admin'],
      ['--agent', 'vvarden'],
    ]) {
      const r = await warden(['keys', 'create', ...who, '--db', db, '--keys', keysFile, '--json']);
      expect(r.code, r.err).not.toBe(0);
      expect(r.err).toMatch(/is reserved: .*the name Warden records its own acts under; choose another name/);
      expect(r.out).not.toMatch(/wdn_/);
    }
    const http = await api<{ error: { code: string; message: string } }>(server.url, 'POST', '/v1/keys', {
      key: adminSecret,
      body: { principalKind: 'service', principal: 'warden', role: 'admin' },
    });
    expect(http.status).toBe(400);
    expect(http.body.error.code).toBe('REQUEST_INVALID');
    expect(http.body.error.message).toMatch(/"warden" is reserved/);
    for (const [principal, reads] of [
      ['policy-watcher', 'it is'],
      ['warden-demo', 'it is'],
      ['warclen', 'it reads like "warden", which is'],
    ]) {
      const r = await api<{ error: { code: string; message: string } }>(server.url, 'POST', '/v1/keys', {
        key: adminSecret,
        body: { principalKind: 'service', principal, role: 'admin' },
      });
      expect(r.status).toBe(400);
      expect(r.body.error.message).toContain(`"${principal}" is reserved: ${reads} the name Warden`);
    }
    const list = await api<{ keys: { principal: string }[] }>(server.url, 'GET', '/v1/keys', {
      key: adminSecret,
    });
    expect(list.body.keys.map((k) => k.principal).sort()).toEqual([
      'admin',
      'ci-bot',
      'support-bot',
      'tim',
      'tom',
    ]);
  }, 120_000);

  it('records the key behind every act: agent, human and service keys by kind and key id', async () => {
    const agent = keys.agent as Key;
    const tim = keys.tim as Key;
    const service = keys.service as Key;
    const lookup = await call({ tool: 'crm.lookup', args: { id: 7 } });
    expect(lookup.body.effect).toBe('allow');
    const done = await api(server.url, 'POST', `/v1/calls/${lookup.body.callId}/complete`, {
      key: agent.secret,
      body: { status: 'ok' },
    });
    expect(done.status).toBe(200);
    const refund = await call({ tool: 'billing.refund', args: { amount: 30 }, triggeredBy: 'sam' });
    expect(refund.body.effect).toBe('review');
    const approvalId = refund.body.approval?.id as string;
    const vote = await api(server.url, 'POST', `/v1/approvals/${approvalId}/approve`, {
      key: tim.secret,
      body: {},
    });
    expect(vote.status).toBe(200);
    const pause = await api(server.url, 'POST', `/v1/sessions/${lookup.body.session}/pause`, {
      key: service.secret,
      body: { reason: 'nightly freeze' },
    });
    expect(pause.status).toBe(200);

    const records = await allRecords(server.url, adminSecret);
    const actorOf = (pick: (r: AuditRecord) => boolean): Actor | undefined => records.find(pick)?.event.actor;
    const agentActor = { kind: 'agent', id: 'support-bot', keyId: agent.id };
    expect(actorOf((r) => r.event.type === 'call.decided' && r.event.callId === lookup.body.callId)).toEqual(
      agentActor,
    );
    expect(
      actorOf((r) => r.event.type === 'call.completed' && r.event.callId === lookup.body.callId),
    ).toEqual(agentActor);
    expect(
      actorOf((r) => r.event.type === 'approval.requested' && r.event.callId === refund.body.callId),
    ).toEqual(agentActor);
    expect(
      actorOf((r) => r.event.type === 'approval.voted' && r.event.callId === refund.body.callId),
    ).toEqual({
      kind: 'human',
      id: 'tim',
      keyId: tim.id,
    });
    expect(
      actorOf((r) => r.event.type === 'session.paused' && r.event.session === lookup.body.session),
    ).toEqual({
      kind: 'service',
      id: 'ci-bot',
      keyId: service.id,
    });
    // The keys themselves were made by the admin's key (over the CLI, with no key: a person named by --by).
    expect(records.filter((r) => r.event.actor.kind === 'system' && r.event.actor.keyId)).toEqual([]);
  });

  it("records Warden's own acts (policy, bootstrap, expiry) as system actors with no key", async () => {
    const deploy = await call({ tool: 'deploy', args: { env: 'prod' } });
    expect(deploy.body.effect).toBe('review');
    const approvalId = deploy.body.approval?.id as string;
    // The 1 s timeout runs out and the sweeper expires it: Warden's act, not anybody's key.
    await eventually('the approval to expire', async () => {
      const a = await api<{ status: string }>(server.url, 'GET', `/v1/approvals/${approvalId}`, {
        key: adminSecret,
      });
      return a.body.status === 'expired' ? true : undefined;
    });
    // A checkpoint is signed by Warden's key, not recorded as anybody's event.
    const checkpoint = await api(server.url, 'POST', '/v1/audit/checkpoints', { key: adminSecret });
    expect(checkpoint.status).toBe(201);
    const records = await allRecords(server.url, adminSecret);
    const expired = records.find(
      (r) => r.event.type === 'approval.decided' && r.event.data?.approvalId === approvalId,
    );
    expect(expired?.event.data?.outcome).toBe('expired');
    expect(expired?.event.actor).toEqual({ kind: 'system', id: 'warden' });
    const own = records.filter((r) => ['key.added', 'policy.changed'].includes(r.event.type));
    expect(own.length).toBeGreaterThanOrEqual(2);
    // The policy the file put in force at start is recorded under `policy-file`, one of Warden's own ids.
    for (const r of own) {
      const id = r.event.type === 'policy.changed' ? 'policy-file' : 'warden';
      expect(r.event.actor).toEqual({ kind: 'system', id });
    }
    const bootstrap = records.find(
      (r) => r.event.type === 'api_key.created' && r.event.data?.principal === 'admin',
    );
    expect(bootstrap?.event.actor).toEqual({ kind: 'system', id: 'warden' });
    // And nothing done with a key is ever recorded as Warden.
    const keyIds = new Set(Object.values(keys).map((k) => k.id));
    for (const r of records) {
      if (r.event.actor.kind === 'system') expect(r.event.actor.keyId).toBeUndefined();
      if (r.event.actor.keyId)
        expect(keyIds.has(r.event.actor.keyId) || r.event.actor.id === 'admin').toBe(true);
    }
  });

  it('refuses tom approving a task triggered by a look-alike of tom (Cyrillic о), and records it', async () => {
    const tom = keys.tom as Key;
    const refund = await call({ tool: 'billing.refund', args: { amount: 40 }, triggeredBy: TOM_CYRILLIC });
    expect(refund.body.effect).toBe('review');
    const approvalId = refund.body.approval?.id as string;
    const vote = await api<{ error: { code: string; message: string } }>(
      server.url,
      'POST',
      `/v1/approvals/${approvalId}/approve`,
      { key: tom.secret, body: {} },
    );
    expect(vote.status).toBe(403);
    expect(vote.body.error.code).toBe('APPROVAL_SELF_APPROVAL');
    expect(vote.body.error.message).toContain('triggered the task');
    const a = await api<{ status: string; votes: unknown[] }>(
      server.url,
      'GET',
      `/v1/approvals/${approvalId}`,
      {
        key: adminSecret,
      },
    );
    expect(a.body).toMatchObject({ status: 'pending', votes: [] });
    const refused = (await allRecords(server.url, adminSecret)).filter(
      (r) => r.event.type === 'approval.refused' && r.event.data?.approvalId === approvalId,
    );
    expect(refused).toHaveLength(1);
    expect(refused[0]?.event.actor).toEqual({ kind: 'human', id: 'tom', keyId: tom.id });
    expect(refused[0]?.event.triggeredBy).toBe(TOM_CYRILLIC);
    expect(refused[0]?.event.data).toMatchObject({ code: 'APPROVAL_SELF_APPROVAL', vote: 'approve' });
    // Someone without a stake still can.
    const tim = await api(server.url, 'POST', `/v1/approvals/${approvalId}/approve`, {
      key: keys.tim?.secret,
      body: {},
    });
    expect(tim.status).toBe(200);
  });

  it('refuses a trigger with a blank look-alike (tom + U+2800) or a C1 control, so no review waits for tom', async () => {
    for (const [triggeredBy, cp] of [
      ['tom\u2800', 'U+2800'],
      ['tom\u0085', 'U+0085'],
    ]) {
      const r = await api<{ error: { code: string; message: string } }>(server.url, 'POST', '/v1/calls', {
        key: keys.agent?.secret,
        body: { tool: 'billing.refund', args: { amount: 41 }, triggeredBy },
      });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('REQUEST_INVALID');
      expect(r.body.error.message).toContain(
        `triggeredBy must contain only visible characters; it contains ${cp}`,
      );
    }
  });

  it('keeps a key an older version let be named warden working, recorded as itself and named at start', async () => {
    const stopped = await server.stop();
    expect(stopped.code).toBe(0);
    // What an older Warden left: a service key named `warden`, and its act recorded as system (no key id).
    const secret = `wdn_${randomBytes(32).toString('base64url')}`;
    const id = `key_legacy_${dialect}`;
    const store = await openStore(db);
    try {
      const ts = new Date().toISOString();
      await store.commit([
        {
          mutations: [
            {
              kind: 'api_key.create',
              key: {
                id,
                hash: hashApiSecret(secret),
                prefix: secret.slice(0, 12),
                principalKind: 'service',
                principal: 'warden',
                role: 'admin',
                label: null,
                createdAt: ts,
                createdBy: 'admin',
                expiresAt: null,
                revokedAt: null,
                revokedBy: null,
              },
            },
          ],
          events: [
            {
              id: `evt_legacy_${dialect}`,
              ts,
              type: 'policy.changed',
              actor: { kind: 'system', id: 'warden' },
              data: { note: 'made by the legacy service key, as older versions recorded it' },
            },
          ],
        },
      ]);
    } finally {
      await store.close();
    }
    server = await spawnServe(['--db', db, '--port', '0', '--keys', keysFile, '--policy', POLICY], {
      WARDEN_LOG_LEVEL: 'warn',
    });
    await eventually('the warning', () => (server.stderr().includes(id) ? true : undefined));
    // A structured log line at warn, and nothing else on stderr (logLines throws on a bare text line).
    const [warning, ...more] = logged(
      server.stderr(),
      `API key ${id} (service "warden") carries a name reserved for Warden itself`,
    );
    expect(more).toEqual([]);
    expect(warning).toMatchObject({ level: 'warn', name: 'warden' });
    expect(warning?.msg).toContain(`\`warden keys revoke ${id}\``);
    const session = (await call({ tool: 'crm.lookup', args: {} })).body.session;
    const pause = await api(server.url, 'POST', `/v1/sessions/${session}/pause`, {
      key: secret,
      body: { reason: 'legacy job' },
    });
    expect(pause.status).toBe(200);
    const paused = (await allRecords(server.url, adminSecret)).find(
      (r) => r.event.type === 'session.paused' && r.event.session === session,
    );
    expect(paused?.event.actor).toEqual({ kind: 'service', id: 'warden', keyId: id });
    await server.stop();

    // Old and new actor shapes side by side: the chain verifies, exports and reports.
    const verify = await warden(['audit', 'verify', '--db', db, '--json']);
    expect(verify.code, verify.err).toBe(0);
    const out = join(dir, `${dialect}-export.jsonl`);
    const exported = await warden([
      'audit',
      'export',
      '--db',
      db,
      '--keys',
      keysFile,
      '--format',
      'jsonl',
      '--out',
      out,
    ]);
    expect(exported.code, exported.err).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines.some((l) => l.includes(`"keyId":"${id}"`))).toBe(true);
    const offline = await warden([
      'audit',
      'verify',
      '--from-export',
      out,
      '--checkpoints',
      `${out}.checkpoints.jsonl`,
      '--public-key',
      `${out}.pub.pem`,
    ]);
    expect(offline.code, offline.err + offline.out).toBe(0);
    const report = join(dir, `${dialect}-soc2.md`);
    const soc2 = await warden([
      'report',
      'soc2',
      '--db',
      db,
      '--from',
      '1d',
      '--to',
      new Date(Date.now() + 60_000).toISOString(),
      '--out',
      report,
      '--format',
      'md',
    ]);
    // Exit 0: the chain is intact and no separation-of-duties violation (tom's refused vote is none).
    expect(soc2.code, soc2.err).toBe(0);
    expect(readFileSync(report, 'utf8')).toMatch(/separation of duties/i);
  }, 120_000);
});
