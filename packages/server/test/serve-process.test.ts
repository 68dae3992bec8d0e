/**
 * `warden serve` as a real process on SQLite: the first-start admin key, graceful shutdown under load
 * (every acknowledged call is in a verifiable audit), startup failures that explain themselves, and the
 * `warden keys` CLI working against a running server. Needs the built CLI (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, verifyStore } from '@warden/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decidedCallSeqs } from '../../engine/test-support/store-fixtures.js';
import {
  api,
  BIN,
  killAll,
  logged,
  logLines,
  type Served,
  spawnServe,
  warden,
} from '../test-support/serve-process.js';
import { SseClient } from '../test-support/sse-client.js';

const STACK_LINE = /\n\s+at .*:\d+:\d+/;
const ADMIN_LINE = /^ {2}(wdn_[A-Za-z0-9_-]{43})$/m;
const ANY_SECRET = /wdn_[A-Za-z0-9_-]{43}/g;

let dir: string;

/** Polls until `probe` returns a value; a generous deadline, never a speed claim. */
async function eventually<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `warden keys create … --json`: the new key's id and secret. */
async function createKey(db: string, ...who: string[]): Promise<{ id: string; secret: string }> {
  const r = await warden(['keys', 'create', ...who, '--db', db, '--json']);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  const made = JSON.parse(r.out) as { key: { id: string }; secret: string };
  return { id: made.key.id, secret: made.secret };
}

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-serve-'));
});

afterAll(() => {
  killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('warden serve (SQLite, a real process)', () => {
  it('prints the admin key on the first start only', async () => {
    const db = join(dir, 'first.db');
    const first = await spawnServe(['--db', db, '--port', '0']);
    const secret = (await eventually(
      'the admin key line',
      () => ADMIN_LINE.exec(first.stdout())?.[1],
    )) as string;
    const keys = await api<{ keys: { role: string }[] }>(first.url, 'GET', '/v1/keys', { key: secret });
    expect(keys.status).toBe(200);
    expect(keys.body.keys.map((k) => k.role)).toEqual(['admin']);
    // The built dashboard ships with the server: its page and its script are served, no extra step.
    expect(first.stdout()).toContain(`dashboard ${first.url}/`);
    const page = await fetch(`${first.url}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(await page.text())?.[1];
    expect(script).toBeDefined();
    expect((await fetch(`${first.url}${script}`)).status).toBe(200);
    // The first admin key is a person's: it signs in to the dashboard.
    const signIn = await fetch(`${first.url}/v1/auth/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: secret }),
    });
    expect(signIn.status).toBe(200);
    expect(signIn.headers.get('set-cookie')).toMatch(/^warden_session=.*HttpOnly/);
    const firstRun = await first.stop();
    expect(firstRun.code).toBe(0);
    expect(firstRun.out.match(ANY_SECRET)).toEqual([secret]);

    const second = await spawnServe(['--db', db, '--port', '0']);
    expect((await api(second.url, 'GET', '/v1/keys', { key: secret })).status).toBe(200);
    const secondRun = await second.stop();
    expect(secondRun.code).toBe(0);
    expect(secondRun.out).not.toMatch(ANY_SECRET);
    expect(secondRun.out).not.toMatch(/First start/);
  });

  it('SIGTERM during a burst of 300 calls: exit 0, every acknowledged call is in a verifiable audit', async () => {
    const db = join(dir, 'burst.db');
    // At info, so the shutdown's own log lines show (and the request logs of the burst with them).
    const server = await spawnServe(['--db', db, '--port', '0'], { WARDEN_LOG_LEVEL: 'info' });
    const agent = await createKey(db, '--agent', 'support-bot');

    let signalled = false;
    const outcomes = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        try {
          const r = await api<{ callId?: string; auditSeq?: number }>(server.url, 'POST', '/v1/calls', {
            key: agent.secret,
            body: { tool: 'billing.refund', args: { amount: i % 3 === 0 ? 5000 : 20 } },
          });
          // The first answer means the burst is being served: stop the server while the rest are in flight.
          if (!signalled) {
            signalled = true;
            server.child.kill('SIGTERM');
          }
          return { status: r.status, ...r.body };
        } catch (err) {
          // Refused or cut connections are fine; only what was acknowledged must be durable.
          return { status: 0, error: String((err as Error).cause ?? err) };
        }
      }),
    );
    const exit = await server.exited;
    expect(exit.code).toBe(0);
    expect(exit.err).not.toMatch(STACK_LINE);
    // Stderr is the log: every line JSON (logLines throws on any other), the shutdown in it at info.
    expect(logLines(exit.err).length).toBeGreaterThan(2);
    expect(logged(exit.err, 'shutting down')).toEqual([
      expect.objectContaining({ level: 'info', signal: 'SIGTERM' }),
    ]);
    expect(logged(exit.err, 'the audit trail is flushed and checkpointed')).toEqual([
      expect.objectContaining({ level: 'info', name: 'warden' }),
    ]);

    const acked = outcomes.filter((o) => o.status === 200) as { callId: string; auditSeq: number }[];
    expect(acked.length).toBeGreaterThan(0);
    // Refusals during shutdown are 503s (or a refused connection), never a 500.
    expect(outcomes.filter((o) => o.status !== 200 && o.status !== 503 && o.status !== 0)).toEqual([]);

    const store = await openStore(db);
    try {
      const stored = await decidedCallSeqs(store);
      expect(acked.filter((o) => stored.get(o.callId) !== o.auditSeq)).toEqual([]);
      // The final checkpoint covers the whole chain.
      expect(await verifyStore(store)).toMatchObject({ ok: true, unsignedTail: 0 });
    } finally {
      await store.close();
    }
    const verify = await warden(['audit', 'verify', '--db', db]);
    expect(verify.code, verify.out + verify.err).toBe(0);
  }, 90_000);

  it('SIGKILL after a burst, then a restart: a checkpoint covers the head before any new call', async () => {
    const db = join(dir, 'killed.db');
    const server = await spawnServe(['--db', db, '--port', '0'], { WARDEN_LOG_LEVEL: 'warn' });
    const agent = await createKey(db, '--agent', 'support-bot');
    const calls = await Promise.all(
      Array.from({ length: 200 }, () =>
        api(server.url, 'POST', '/v1/calls', {
          key: agent.secret,
          body: { tool: 'billing.refund', args: { amount: 20 } },
        }),
      ),
    );
    expect(calls.every((c) => c.status === 200)).toBe(true);
    server.child.kill('SIGKILL');
    expect((await server.exited).signal).toBe('SIGKILL');
    const unsigned = async () => {
      const store = await openStore(db);
      try {
        const report = await verifyStore(store);
        expect(report.ok).toBe(true);
        return { head: report.lastSeq, unsignedTail: report.unsignedTail };
      } finally {
        await store.close();
      }
    };
    const afterCrash = await unsigned();
    expect(afterCrash.unsignedTail).toBeGreaterThanOrEqual(200);

    const again = await spawnServe(['--db', db, '--port', '0'], { WARDEN_LOG_LEVEL: 'warn' });
    // Listening, and no call made yet: what the killed process wrote is signed already.
    expect(await unsigned()).toEqual({ head: afterCrash.head, unsignedTail: 0 });
    const stopped = await again.stop();
    expect(stopped.code, `signal ${stopped.signal}; stderr:\n${stopped.err}`).toBe(0);
  }, 90_000);

  it('a port already in use: exits non-zero naming the port, without a stack trace', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const r = await warden(['serve', '--db', join(dir, 'busy.db'), '--port', String(port)]);
      expect(r.code).not.toBe(0);
      expect(r.code).not.toBeNull();
      expect(r.err).toMatch(new RegExp(`port ${port}\\b.*in use`));
      expect(r.out + r.err).not.toMatch(STACK_LINE);
      expect(r.out).not.toMatch(/Warden is listening/);
      // Nothing was created: the retry on a free port is a first start that shows the admin key.
      expect(existsSync(join(dir, 'busy.db'))).toBe(false);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    const retry = await spawnServe(['--db', join(dir, 'busy.db'), '--port', '0']);
    try {
      await eventually('the admin key on the retry', () => ADMIN_LINE.exec(retry.stdout())?.[1]);
    } finally {
      expect((await retry.stop()).code).toBe(0);
    }
  });

  it.each([
    ['--port abc', ['--port', 'abc'], {}, /port \(flag\)/],
    ['WARDEN_PORT=abc', [], { WARDEN_PORT: 'abc' }, /port \(environment\)/],
  ])(
    'an invalid setting (%s): CONFIG_INVALID naming it, non-zero exit, no stack trace',
    async (_, flags, env, names) => {
      const r = await warden(['serve', '--db', join(dir, 'invalid.db'), ...flags], env);
      expect(r.code).not.toBe(0);
      expect(r.code).not.toBeNull();
      expect(r.err).toMatch(/CONFIG_INVALID/);
      expect(r.err).toMatch(names);
      expect(r.out + r.err).not.toMatch(STACK_LINE);
      expect(existsSync(join(dir, 'invalid.db'))).toBe(false);
    },
  );

  describe('warden keys against a running server', () => {
    const adminKey = `wdn_${randomBytes(32).toString('base64url')}`;
    let db: string;
    let server: Served;

    beforeAll(async () => {
      db = join(dir, 'keys.db');
      server = await spawnServe(['--db', db, '--port', '0'], { WARDEN_ADMIN_KEY: adminKey });
    }, 60_000);

    afterAll(async () => {
      if (server.child.exitCode === null) await server.stop();
    });

    it('a key made with `warden keys create` works against the running server', async () => {
      const bot = await createKey(db, '--agent', 'bot');
      const r = await api<{ effect: string; callId: string }>(server.url, 'POST', '/v1/calls', {
        key: bot.secret,
        body: { tool: 'tickets.read' },
      });
      expect(r.status).toBe(200);
      // `bot` is in no policy: the default decision.
      expect(r.body.effect).toBe('block');
      const listed = await api<{ keys: { id: string; principal: string }[] }>(server.url, 'GET', '/v1/keys', {
        key: adminKey,
      });
      expect(listed.body.keys).toContainEqual(expect.objectContaining({ id: bot.id, principal: 'bot' }));
    });

    it('a key revoked with `warden keys revoke` is refused as soon as the server has read the revocation', async () => {
      const agent = await createKey(db, '--agent', 'support-bot');
      const call = { key: agent.secret, body: { tool: 'tickets.read' } };
      // Used first, so the server holds it in its authentication cache.
      expect((await api(server.url, 'POST', '/v1/calls', call)).status).toBe(200);
      const revocations = await SseClient.open(`${server.url}/v1/events?type=api_key.revoked`, {
        key: adminKey,
      });
      try {
        expect(revocations.status).toBe(200);
        const r = await warden(['keys', 'revoke', agent.id, '--db', db, '--reason', 'test']);
        expect(r.code, r.err).toBe(0);
        // The server tails the chain (every pollMs, 250 ms by default) and applies a revocation before it
        // streams it; the deadline is generous, the mechanism is what is checked.
        await revocations.waitFor(
          (c) => c.records().some((rec) => (rec.event.data as { id?: string } | undefined)?.id === agent.id),
          'the revocation from the CLI',
        );
        const refused = await api<{ error: { code: string; details: { reason?: string } } }>(
          server.url,
          'POST',
          '/v1/calls',
          call,
        );
        expect(refused.status).toBe(401);
        expect(refused.body.error).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'revoked' } });
      } finally {
        revocations.close();
      }
    });

    it('stops with exit 0, and the chain written by the server and the CLI together verifies', async () => {
      const exit = await server.stop();
      expect(exit.code).toBe(0);
      const verify = await warden(['audit', 'verify', '--db', db]);
      expect(verify.code, verify.out + verify.err).toBe(0);
    });
  });
});
