/**
 * No secret reaches storage, whichever field it is typed into: a real `warden serve` process (SQLite and
 * PostgreSQL) gets one unique secret planted in every place a person or an agent can type text (labels,
 * every human reason, a completion's error and result, an AWS key pair in text, a cvv field, a session id),
 * and none of them may appear in the database (the raw SQLite files; every PostgreSQL table), any export
 * format, the live event stream, or a webhook body. Needs the built CLI (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../engine/test-support/postgres-server.js';
import { everyTableText } from '../../engine/test-support/store-fixtures.js';
import { eventually } from '../test-support/eventually.js';
import { api, BIN, killAll, type Served, spawnServe, warden } from '../test-support/serve-process.js';
import { SseClient } from '../test-support/sse-client.js';

const POLICY = fileURLToPath(new URL('./fixtures/approvals-policy', import.meta.url));

/** A value unique to this run, random-looking (digits, upper case) as a real credential is. */
const unique = (tag: string) => `Q${tag}${randomBytes(10).toString('hex')}`;

/** Every planted secret, by where it was planted. */
function plantedSecrets() {
  const awsId = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
  return {
    labelField: unique('LABELFIELD'),
    labelText: `sk-live-${unique('LABELTEXT')}`,
    approve: unique('APPROVE'),
    deny: `sk-live-${unique('DENY')}`,
    override: unique('OVERRIDE'),
    grant: unique('GRANT'),
    pause: `ghp_${unique('PAUSE')}${'x'.repeat(10)}`,
    resume: unique('RESUME'),
    completionError: unique('ERRORTEXT'),
    awsId,
    awsSecret: randomBytes(30).toString('base64'),
    cvv: unique('CVV'),
    session: `sk-live-${unique('SESSION')}`,
  };
}
type Secrets = ReturnType<typeof plantedSecrets>;

/** The planted secrets that `text` contains, by name. */
const leaks = (secrets: Secrets, text: string) =>
  Object.entries(secrets)
    .filter(([, secret]) => text.includes(secret))
    .map(([where]) => where);

/** A local receiver that keeps the raw body of every webhook delivery. */
function startReceiver(): Promise<{ server: Server; url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      raw += c;
    });
    req.on('end', () => {
      bodies.push(raw);
      res.end('ok');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies });
    });
  });
}

/** `warden keys create … --json`: the new key's secret. */
async function createKey(db: string, keys: string, ...who: string[]): Promise<string> {
  const r = await warden(['keys', 'create', ...who, '--db', db, '--keys', keys, '--json']);
  expect(r.code, r.err).toBe(0);
  return (JSON.parse(r.out) as { secret: string }).secret;
}

/** The raw bytes of the SQLite database and its companion files (WAL, shared memory), as Latin-1 text. */
function sqliteBytes(db: string): string {
  const files = readdirSync(dirname(db)).filter((f) => f.startsWith(basename(db)) && !f.endsWith('.json'));
  expect(files).toContain(basename(db));
  return files.map((f) => readFileSync(join(dirname(db), f)).toString('latin1')).join('\n');
}

let dir: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-secrets-'));
  receiver = await startReceiver();
});

afterAll(async () => {
  killAll();
  await new Promise((resolve) => receiver?.server.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.each(['sqlite', 'postgres'] as const)(
  'secrets never reach storage (%s, a real process)',
  (dialect) => {
    let db: string;
    let keys: string;
    let server: Served;
    let admin: string;
    let bot: string;
    const people: Record<string, string> = {};
    const secrets = plantedSecrets();
    const session = `sess-${dialect}-${randomBytes(4).toString('hex')}`;
    let sse: SseClient;

    beforeAll(async () => {
      db =
        dialect === 'sqlite'
          ? join(dir, 'secrets.db')
          : await createTestDatabase(inject('postgresUrl'), 'secrets');
      keys = join(dir, `${dialect}.keys.json`);
      admin = `wdn_${randomBytes(32).toString('base64url')}`;
      const config = join(dir, `${dialect}.config.json`);
      writeFileSync(
        config,
        JSON.stringify({
          db,
          keysFile: keys,
          policy: POLICY,
          port: 0,
          webhookPollMs: 20,
          webhookBaseDelayMs: 10,
          webhooks: [{ name: 'hook', url: receiver.url, format: 'json' }],
        }),
      );
      server = await spawnServe(['--config', config], { WARDEN_ADMIN_KEY: admin });
      bot = await createKey(db, keys, '--agent', 'ops-bot');
      for (const name of ['olga@x', 'oscar@x']) {
        people[name] = await createKey(db, keys, '--human', name, '--role', 'approver');
      }
      sse = await SseClient.open(`${server.url}/v1/events`, { key: admin });
      expect(sse.status).toBe(200);
    }, 90_000);

    afterAll(async () => {
      sse?.close();
      if (server?.child.exitCode === null) await server.stop();
    });

    const call = async (body: Record<string, unknown>) => {
      const r = await api<{ callId: string; effect: string; approval?: { id: string } }>(
        server.url,
        'POST',
        '/v1/calls',
        { key: bot, body: { session, ...body } },
      );
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body;
    };
    const ok = async (what: string, p: Promise<{ status: number; body: unknown }>) => {
      const r = await p;
      expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
    };

    it('a session id that looks like a credential is refused, naming the field, and not echoed', async () => {
      const r = await api<{ error: { code: string; message: string; details: unknown } }>(
        server.url,
        'POST',
        '/v1/calls',
        { key: bot, body: { tool: 'change', session: secrets.session } },
      );
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('REQUEST_INVALID');
      expect(JSON.stringify(r.body.error)).toMatch(/session looks like a credential/);
      expect(leaks(secrets, JSON.stringify(r.body))).toEqual([]);
    });

    it('plants a secret in every field a person or an agent types, and none is stored or sent', async () => {
      const S = secrets;
      // Labels, an AWS key pair in text and a cvv field, on calls that go to review.
      const requests: string[] = [];
      for (const n of [1, 2, 3]) {
        const d = await call({
          tool: 'change',
          args: { note: `deploy with ${S.awsId} ${S.awsSecret}`, card: { cvv: S.cvv }, n },
          labels: { token: S.labelField, ticket: `see ${S.labelText}` },
        });
        expect(d.effect).toBe('review');
        requests.push(d.approval?.id as string);
      }
      const [approveId, denyId, overrideId] = requests as [string, string, string];
      // Every human reason: approve, deny, override, grant, pause, resume.
      await ok(
        'approve',
        api(server.url, 'POST', `/v1/approvals/${approveId}/approve`, {
          key: people['olga@x'],
          body: { reason: `LGTM, staging token=${S.approve}` },
        }),
      );
      await ok(
        'deny',
        api(server.url, 'POST', `/v1/approvals/${denyId}/deny`, {
          key: people['oscar@x'],
          body: { reason: `no: it would print ${S.deny}` },
        }),
      );
      await ok(
        'override',
        api(server.url, 'POST', `/v1/approvals/${overrideId}/override`, {
          key: admin,
          body: { decision: 'approve', reason: `outage; I used password=${S.override}` },
        }),
      );
      await ok(
        'grant',
        api(server.url, 'POST', '/v1/grants', {
          key: admin,
          body: { agent: 'ops-bot', tool: 'ops.*', session, reason: `ticket 42, api_key: ${S.grant}` },
        }),
      );
      // A call the grant allows, completed with an error text and a result that carry secrets.
      const granted = await call({ tool: 'ops.restart', args: { host: 'web-1' } });
      expect(granted.effect).toBe('allow');
      await ok(
        'complete',
        api(server.url, 'POST', `/v1/calls/${granted.callId}/complete`, {
          key: bot,
          body: {
            status: 'error',
            error: `connect failed: password=${S.completionError}`,
            result: { log: `using ${S.awsId}:${S.awsSecret}` },
          },
        }),
      );
      await ok(
        'pause',
        api(server.url, 'POST', `/v1/sessions/${session}/pause`, {
          key: admin,
          body: { reason: `leaked ${S.pause}` },
        }),
      );
      await ok(
        'resume',
        api(server.url, 'POST', `/v1/sessions/${session}/resume`, {
          key: admin,
          body: { reason: `rotated; new secret=${S.resume}` },
        }),
      );

      // The live stream saw everything (up to the resume), and the webhooks every notification.
      await sse.waitFor((c) => c.records().some((r) => r.event.type === 'session.resumed'), 'the resume');
      const webhookTypes = () => receiver.bodies.map((b) => (JSON.parse(b) as { type?: string }).type);
      await eventually('the webhooks of both decisions, the override and the pause', () => {
        const types = webhookTypes();
        const decided = types.filter((t) => t === 'approval.decided').length;
        return decided >= 3 && types.includes('session.paused') ? types : undefined;
      });
      const streamed = sse.messages.map((m) => m.data).join('\n');
      expect(streamed).toMatch(/\[REDACTED:/);
      expect(leaks(S, streamed)).toEqual([]);
      const hooks = receiver.bodies.join('\n');
      expect(hooks).toMatch(/\[REDACTED:/);
      expect(leaks(S, hooks)).toEqual([]);

      // Stop the server (its final checkpoint seals the chain), then read storage and export it.
      sse.close();
      expect((await server.stop()).code).toBe(0);
      const stored = dialect === 'sqlite' ? sqliteBytes(db) : await everyTableText(db);
      expect(stored).toContain(session);
      // The dump names each table on a line of its own: more than five means every table was read.
      if (dialect === 'postgres') expect(stored.match(/^[a-z_]+$/gm)?.length).toBeGreaterThan(5);
      expect(leaks(S, stored)).toEqual([]);
      for (const format of ['jsonl', 'csv', 'ocsf']) {
        const out = join(dir, `${dialect}-export.${format}`);
        const r = await warden([
          'audit',
          'export',
          '--db',
          db,
          '--keys',
          keys,
          '--format',
          format,
          '--out',
          out,
        ]);
        expect(r.code, r.err).toBe(0);
        const exported = readFileSync(out, 'utf8');
        expect(exported, format).toContain('session.resumed');
        expect(exported, format).toMatch(/REDACTED/);
        expect({ format, leaks: leaks(S, exported) }).toEqual({ format, leaks: [] });
      }
    }, 120_000);
  },
);
