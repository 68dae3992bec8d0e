/**
 * `warden serve` with webhooks from a config file, a real process: an approval request reaches a local
 * receiver on 127.0.0.1 that verifies it with the `standardwebhooks` package (as the docs tell receivers
 * to), the retry of a failed attempt keeps its webhook-id, a replay later is refused by the library, and
 * a webhook nobody listens on is a warn line in the server's JSON log. Needs the built CLI.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import { api, BIN, killAll, logged, logLines, spawnServe, warden } from '../test-support/serve-process.js';

const POLICY = fileURLToPath(new URL('./fixtures/approvals-policy', import.meta.url));
const ADMIN = `wdn_${randomBytes(32).toString('base64url')}`;
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

interface Got {
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  /** What the library said when the receiver verified it: the payload, or the error message. */
  readonly verdict: unknown;
}

/** A receiver that verifies every request with the library and fails each message's first attempt. */
function startReceiver(): Promise<{ server: Server; url: string; got: Got[] }> {
  const got: Got[] = [];
  const seen = new Set<string>();
  const wh = new Webhook(SECRET);
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      raw += c;
    });
    req.on('end', () => {
      let verdict: unknown;
      try {
        verdict = wh.verify(raw, req.headers as Record<string, string>);
      } catch (err) {
        verdict = (err as Error).message;
      }
      got.push({ headers: req.headers, raw, verdict });
      const id = String(req.headers['webhook-id']);
      res.statusCode = seen.has(id) ? 204 : 500;
      seen.add(id);
      res.end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got }),
    ),
  );
}

/** A port nothing listens on: bound, then released. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

let dir: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-webhooks-'));
  receiver = await startReceiver();
});

afterAll(async () => {
  killAll();
  await new Promise((r) => receiver?.server.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('warden serve sending Standard Webhooks (a real process)', () => {
  it('an approval request is verified by standardwebhooks, retried under one id; a dead webhook is logged', async () => {
    const db = join(dir, 'hooks.db');
    const config = join(dir, 'warden.yaml');
    writeFileSync(
      config,
      [
        'webhooks:',
        '  - name: ops',
        `    url: ${receiver.url}/hook`,
        '    secret: env:OPS_WEBHOOK_SECRET',
        '    events: [approval.requested]',
        '  - name: gone',
        `    url: http://127.0.0.1:${await deadPort()}/hook`,
        '    events: [approval.requested]',
        'webhookPollMs: 50',
        'webhookBaseDelayMs: 10',
        'webhookMaxAttempts: 2',
        '',
      ].join('\n'),
    );
    const server = await spawnServe(['--config', config, '--db', db, '--port', '0', '--policy', POLICY], {
      WARDEN_ADMIN_KEY: ADMIN,
      WARDEN_LOG_LEVEL: 'warn',
      OPS_WEBHOOK_SECRET: SECRET,
    });
    try {
      const made = await warden(['keys', 'create', '--agent', 'ops-bot', '--db', db, '--json']);
      expect(made.code, made.err).toBe(0);
      const agent = (JSON.parse(made.out) as { secret: string }).secret;
      const call = await api<{ approval: { id: string } }>(server.url, 'POST', '/v1/calls', {
        key: agent,
        body: { tool: 'change', args: { what: 'the webhook test' } },
      });
      expect(call.status).toBe(200);
      const approvalId = call.body.approval.id;

      const [first, retry] = await eventually('the failed attempt and its retry', () =>
        receiver.got.length >= 2 ? receiver.got : undefined,
      );
      // The same message twice: one webhook-id, each attempt stamped, signed and verified on its own.
      expect(retry?.headers['webhook-id']).toBe(first?.headers['webhook-id']);
      expect(first?.headers['webhook-id']).toMatch(/^[^.\s]+$/);
      for (const attempt of [first, retry]) {
        expect(attempt?.verdict).toMatchObject({ type: 'approval.requested', approval: { id: approvalId } });
        expect(attempt?.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
      }
      const headers = first?.headers as Record<string, string>;
      const wrong = new Webhook(`whsec_${randomBytes(32).toString('base64')}`);
      expect(() => wrong.verify(first?.raw ?? '', headers)).toThrow(/No matching signature/);
      // Replayed ten minutes later, the captured delivery is refused for its timestamp.
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 10 * 60_000 });
      try {
        expect(() => new Webhook(SECRET).verify(first?.raw ?? '', headers)).toThrow(/timestamp too old/);
      } finally {
        vi.useRealTimers();
      }

      const [undelivered] = await eventually('the undelivered webhook in the log', () => {
        const lines = logged(server.stderr(), 'webhook gone could not be delivered');
        return lines.length ? lines : undefined;
      });
      expect(undelivered).toMatchObject({
        level: 'warn',
        webhook: 'gone',
        eventType: 'approval.requested',
        attempts: 2,
        error: expect.stringMatching(/^network error: .*ECONNREFUSED/),
      });
    } finally {
      const exit = await server.stop();
      expect(exit.code).toBe(0);
      // Everything the server said on stderr is a JSON log line (logLines throws on any other).
      expect(logLines(exit.err).every((l) => typeof l.time === 'number')).toBe(true);
    }
  }, 90_000);

  it('refuses to start with credentials in a webhook URL or a non-ASCII raw secret, echoing neither', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['    url: https://hook-user:hunter2@hooks.example.com/services/T0/B0/SlackPathSecret'],
        /webhooks\.0\.url .*must not contain a user name or password/,
      ],
      [
        [
          '    url: https://hooks.example.com/services/T0/B0/SlackPathSecret',
          '    secret: pässwörd-0123456789-hunter2',
        ],
        /webhooks\.0\.secret .*printable ASCII.*whsec_/,
      ],
    ];
    for (const [lines, message] of cases) {
      const config = join(dir, `bad-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(config, ['webhooks:', '  - name: ops', ...lines, ''].join('\n'));
      const ran = await warden(['serve', '--config', config, '--db', join(dir, 'bad.db'), '--port', '0'], {
        WARDEN_ADMIN_KEY: ADMIN,
      });
      expect(ran.code, ran.err).not.toBe(0);
      expect(ran.err).toMatch(message);
      expect(ran.out + ran.err).not.toMatch(/hunter2|SlackPathSecret/);
    }
  }, 60_000);
});
