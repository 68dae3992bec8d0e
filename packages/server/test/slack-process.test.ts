/**
 * Approving from Slack through a real `warden serve` (the built CLI) and a local stand-in for Slack
 * (test-support/slack-standin.ts; Slack cannot be reached from here) that speaks its wire formats: a held
 * call becomes a Block Kit message with Approve and Deny buttons (chat.postMessage, Bearer bot token);
 * clicks come back as signed block_actions payloads; the Slack user is mapped to a Warden person (the
 * users map, or users.info's email → a human key); separation of duties refuses the initiator; the
 * message is updated with the outcome (chat.update); bad, stale and tampered requests are refused.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore, type PersonRecord } from '@warden/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import { browse, CookieJar } from '../test-support/oidc-browser.js';
import { type OidcProviderFixture, startOidcProvider } from '../test-support/oidc-provider.js';
import {
  api,
  BIN,
  freePort,
  killAll,
  logged,
  type Served,
  spawnServe,
  warden,
} from '../test-support/serve-process.js';
import {
  type SlackStandin,
  STANDIN_TEAM,
  type StandinMessage,
  startSlackStandin,
} from '../test-support/slack-standin.js';

const POLICY = fileURLToPath(new URL('./fixtures/approvals-policy', import.meta.url));
const ADMIN = `wdn_${randomBytes(32).toString('base64url')}`;
const CHANNEL = 'C0APPROVALS';
/** Slack users: Olga is found by her email, Tina through the map, Nora is nobody in Warden. */
const OLGA = 'U0OLGA0001';
const TINA = 'U0TINA0001';
const NORA = 'U0NORA0001';
/** Dana signed in through SSO: her Slack email is her IdP email, and her IdP group ops makes her an approver. */
const DANA = 'U0DANA0001';
const DANA_PERSON: PersonRecord = {
  issuer: 'https://idp.example.com',
  subject: 'dana-0001',
  name: 'dana@x',
  email: 'dana@corp.example',
  displayName: 'Dana',
  role: 'approver',
  groups: ['ops', 'staff'],
  approverGroups: ['ops'],
  firstSignedInAt: '2026-01-01T00:00:00.000Z',
  // Signed in lately: a role from a sign-in older than a dashboard session (8 h) is not used.
  lastSignedInAt: new Date().toISOString(),
};

interface Approval {
  id: string;
  status: string;
  votes: { principal: string; vote: string; via?: string }[];
}
interface AuditEvent {
  type: string;
  actor: { kind: string; id: string; keyId?: string };
  data: Record<string, unknown>;
}

let dir: string;
let slack: SlackStandin;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-slack-'));
  slack = await startSlackStandin({
    channels: [CHANNEL],
    users: [
      { id: OLGA, name: 'olga', email: 'olga@x' },
      { id: TINA, name: 'tina', email: 'tina.personal@example.com' },
      { id: NORA, name: 'nora', email: 'nora@elsewhere.example' },
      { id: DANA, name: 'dana', email: 'dana@corp.example' },
    ],
  });
});

afterAll(async () => {
  killAll();
  await slack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Writes the config, makes the keys and starts `warden serve` with the Slack app. */
async function serve(
  name: string,
  token = slack.token,
): Promise<{ server: Served; db: string; agent: string }> {
  const db = join(dir, `${name}.db`);
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    [
      'publicUrl: https://warden.example.com',
      'webhookPollMs: 50',
      'webhookBaseDelayMs: 10',
      'webhookMaxAttempts: 2',
      'logLevel: info',
      'slack:',
      '  botToken: env:TEST_SLACK_BOT_TOKEN',
      '  signingSecret: env:TEST_SLACK_SIGNING_SECRET',
      `  channel: ${CHANNEL}`,
      `  apiBaseUrl: ${slack.apiBaseUrl}`,
      `  teamId: ${STANDIN_TEAM}`,
      '  users:',
      `    ${TINA}: tina@x`,
      '  mapBy: [map, email]',
      '',
    ].join('\n'),
  );
  const server = await spawnServe(['--config', config, '--db', db, '--port', '0', '--policy', POLICY], {
    WARDEN_ADMIN_KEY: ADMIN,
    TEST_SLACK_BOT_TOKEN: token,
    TEST_SLACK_SIGNING_SECRET: slack.signingSecret,
  });
  const made = await warden(['keys', 'create', '--agent', 'ops-bot', '--db', db, '--json']);
  expect(made.code, made.err).toBe(0);
  for (const person of ['olga@x', 'tina@x']) {
    const k = await warden(['keys', 'create', '--human', person, '--role', 'approver', '--db', db, '--json']);
    expect(k.code, k.err).toBe(0);
  }
  return { server, db, agent: (JSON.parse(made.out) as { secret: string }).secret };
}

async function approval(url: string, id: string, key = ADMIN): Promise<Approval> {
  return (await api<Approval>(url, 'GET', `/v1/approvals/${id}`, { key })).body;
}

async function audit(url: string, type: string, key = ADMIN): Promise<AuditEvent[]> {
  const page = await api<{ records: { event: AuditEvent }[] }>(
    url,
    'GET',
    `/v1/audit/events?type=${type}&limit=100`,
    {
      key,
    },
  );
  return page.body.records.map((r) => r.event);
}

function buttons(m: StandinMessage): Record<string, unknown>[] {
  return m.blocks.filter((b) => b.type === 'actions').flatMap((b) => b.elements as Record<string, unknown>[]);
}

describe('approving from Slack through warden serve (a real process, Slack stood in)', () => {
  it('posts the request with buttons; the initiator and strangers are refused; a mapped approver lets the call go', async () => {
    const { server, agent } = await serve('flow');
    const interactions = `${server.url}/slack/interactions`;
    let passed = false;
    try {
      const waiting = api<{ effect: string; approval?: { id: string; status: string } }>(
        server.url,
        'POST',
        '/v1/calls',
        {
          key: agent,
          body: {
            tool: 'change',
            args: { what: 'rotate the cache', token: 'sk-live-abcdefghijklmnopqrstuvwx' },
            session: 'slack-flow',
            triggeredBy: 'tina@x',
            wait: 120_000,
          },
        },
      );
      waiting.catch(() => {}); // Awaited below; a failure before that must not be an unhandled rejection.
      const posted = await eventually(
        'the approval message in Slack',
        () => slack.callsOf('chat.postMessage')[0],
      );
      expect(posted.headers.authorization).toBe(`Bearer ${slack.token}`);
      expect(posted.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(posted.answer).toMatchObject({ ok: true, channel: CHANNEL });
      expect(posted.answer.warning).toBeUndefined();
      const message = slack.messages[0] as StandinMessage;
      const pending = await eventually('the pending request', async () => {
        const list = await api<{ approvals: Approval[] }>(server.url, 'GET', '/v1/approvals?status=pending', {
          key: ADMIN,
        });
        return list.body.approvals[0];
      });
      // The section tells who, what and why; the arguments shown are the redacted ones.
      const text = JSON.stringify(message.blocks);
      for (const fact of [
        'ops-bot',
        'change',
        'change-review',
        'Any one ops person may approve a change.',
        'tina@x',
      ])
        expect(text).toContain(fact);
      expect(text).not.toContain('sk-live-abcdefghijklmnopqrstuvwx');
      expect(buttons(message)).toEqual([
        expect.objectContaining({ action_id: 'warden_approve', style: 'primary', value: pending.id }),
        expect.objectContaining({ action_id: 'warden_deny', style: 'danger', value: pending.id }),
        expect.objectContaining({
          action_id: 'warden_open',
          url: `https://warden.example.com/approvals/${pending.id}`,
        }),
      ]);
      const notified = await eventually(
        'approval.notified',
        async () => (await audit(server.url, 'approval.notified'))[0],
      );
      expect(notified.data).toMatchObject({
        approvalId: pending.id,
        target: 'slack:app',
        delivered: true,
        slack: { channel: CHANNEL, ts: message.ts },
      });

      // Not from Slack: another secret, a stale timestamp, a captured request replayed with another body.
      const olgaClick = slack.blockActions({ user: OLGA, message, actionId: 'warden_approve' });
      const forged = await slack.sendInteraction(interactions, olgaClick, { secret: 'a'.repeat(32) });
      expect(forged.status).toBe(401);
      expect(JSON.parse(forged.text)).toMatchObject({ error: { code: 'SLACK_SIGNATURE_INVALID' } });
      const stale = await slack.sendInteraction(interactions, olgaClick, {
        timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
      });
      expect(stale.status).toBe(401);
      expect(JSON.parse(stale.text).error.message).toMatch(/s from now/);
      const noraClick = slack.blockActions({ user: NORA, message, actionId: 'warden_approve' });
      const nora = await slack.sendInteraction(interactions, noraClick);
      expect(nora.status).toBe(200);
      const tampered = nora.body.replace(encodeURIComponent(NORA), encodeURIComponent(OLGA));
      expect(tampered).not.toBe(nora.body);
      const replay = await fetch(interactions, { method: 'POST', headers: nora.headers, body: tampered });
      expect(replay.status).toBe(401);
      expect(logged(server.stderr(), 'refused a request to /slack/interactions').length).toBe(3);

      // Nora is nobody in Warden: told so alone, and the refusal is recorded.
      const noraTold = await eventually('the ephemeral to Nora', () =>
        slack.callsOf('chat.postEphemeral').find((c) => c.args.user === NORA),
      );
      expect(noraTold.args).toMatchObject({ channel: CHANNEL });
      expect(String(noraTold.args.text)).toMatch(/not a Warden person/);
      // Someone users.info does not know (user_not_found) is nobody too; Slack refusing to tell them
      // (user_not_in_channel) is a warn line, not silence.
      const ghost = await slack.sendInteraction(
        interactions,
        slack.blockActions({ user: 'U0GHOST001', message, actionId: 'warden_deny' }),
      );
      expect(ghost.status).toBe(200);
      const [unheard] = await eventually('the failed ephemeral in the log', () => {
        const lines = logged(server.stderr(), 'Slack chat.postEphemeral failed after a click');
        return lines.length ? lines : undefined;
      });
      expect(unheard).toMatchObject({ level: 'warn', error: 'user_not_in_channel', approvalId: pending.id });
      // Tina triggered the task: separation of duties refuses her, though the map makes her tina@x.
      const tina = await slack.sendInteraction(
        interactions,
        slack.blockActions({ user: TINA, message, actionId: 'warden_approve' }),
      );
      expect(tina.status).toBe(200);
      const tinaTold = await eventually('the ephemeral to Tina', () =>
        slack.callsOf('chat.postEphemeral').find((c) => c.args.user === TINA),
      );
      expect(String(tinaTold.args.text)).toMatch(/APPROVAL_SELF_APPROVAL/);
      const refused = await audit(server.url, 'approval.refused');
      expect(refused.map((e) => [e.actor.id, e.data.code])).toEqual(
        expect.arrayContaining([
          [`slack:${NORA}`, 'SLACK_USER_UNMAPPED'],
          ['slack:U0GHOST001', 'SLACK_USER_UNMAPPED'],
          ['tina@x', 'APPROVAL_SELF_APPROVAL'],
        ]),
      );
      expect(refused.find((e) => e.actor.id === 'slack:U0GHOST001')?.data).toMatchObject({
        vote: 'deny',
        via: 'slack',
        reason: expect.stringMatching(/users\.info failed \(user_not_found\)/),
      });
      expect((await approval(server.url, pending.id)).status).toBe('pending');
      expect(slack.callsOf('chat.update')).toHaveLength(0);

      // Olga (users.info → olga@x → her approver key) approves: the held call goes ahead.
      const olga = await slack.sendInteraction(
        interactions,
        slack.blockActions({ user: OLGA, message, actionId: 'warden_approve' }),
      );
      expect(olga.status).toBe(200);
      const decided = await waiting;
      expect(decided.status).toBe(200);
      expect(decided.body.effect).toBe('allow');
      const after = await approval(server.url, pending.id);
      expect(after.votes).toEqual([
        expect.objectContaining({ principal: 'olga@x', vote: 'approve', via: 'slack' }),
      ]);
      const info = slack.callsOf('users.info').find((c) => c.args.user === OLGA);
      expect(info?.headers['content-type']).toBe('application/x-www-form-urlencoded');
      const update = await eventually('chat.update', () => slack.callsOf('chat.update')[0]);
      expect(update.args).toMatchObject({ channel: CHANNEL, ts: message.ts });
      expect(update.answer).toMatchObject({ ok: true });
      expect(JSON.stringify(message.blocks)).toMatch(/Approved.*olga@x/);
      expect(buttons(message).map((b) => b.action_id)).toEqual(['warden_open']);
      passed = true;
    } finally {
      const exit = await server.stop();
      // A failure above is the one to see; a server held up by the call it left waiting is not.
      if (passed) expect(exit.code, exit.err).toBe(0);
    }
  }, 120_000);

  it('an SSO person found by her Slack email approves with her IdP group; a denial blocks the call and says by whom', async () => {
    const { server, db, agent } = await serve('sso');
    const interactions = `${server.url}/slack/interactions`;
    let passed = false;
    try {
      // What an SSO sign-in writes (the people store); the last test signs in through the real provider.
      const store = await openStore(db);
      try {
        await store.commit([{ mutations: [{ kind: 'person.upsert', person: DANA_PERSON }], events: [] }]);
      } finally {
        await store.close();
      }
      const call = (n: number) =>
        api<{ effect: string }>(server.url, 'POST', '/v1/calls', {
          key: agent,
          body: { tool: 'change', args: { n }, session: `sso-${n}`, triggeredBy: 'tina@x', wait: 120_000 },
        });
      const newMessage = async (after: number) =>
        eventually('a new message in Slack', () =>
          slack.messages.length > after ? slack.messages.at(-1) : undefined,
        );
      let seen = slack.messages.length;
      const first = call(1);
      first.catch(() => {});
      const m1 = await newMessage(seen);
      seen = slack.messages.length;
      const dana = await slack.sendInteraction(
        interactions,
        slack.blockActions({ user: DANA, message: m1, actionId: 'warden_approve' }),
      );
      expect(dana.status).toBe(200);
      expect((await first).body.effect).toBe('allow');
      // Her vote is hers: the IdP's issuer and subject, no key; the ops group came from the IdP, not the policy.
      const approved = (await audit(server.url, 'approval.decided')).at(-1);
      expect(approved?.actor).toMatchObject({ kind: 'human' });
      expect(approved?.actor.keyId).toBeUndefined();
      const votes = (
        await api<{ approvals: (Approval & { votes: Record<string, unknown>[] })[] }>(
          server.url,
          'GET',
          '/v1/approvals?session=sso-1&status=used',
          { key: ADMIN },
        )
      ).body.approvals[0]?.votes;
      expect(votes).toEqual([
        expect.objectContaining({
          principal: 'dana@x',
          vote: 'approve',
          via: 'slack',
          issuer: DANA_PERSON.issuer,
          subject: DANA_PERSON.subject,
        }),
      ]);
      await eventually('the approval in the message', () =>
        /Approved.*dana@x/.test(JSON.stringify(m1.blocks)) ? true : undefined,
      );

      const second = call(2);
      second.catch(() => {});
      const m2 = await newMessage(seen);
      const olga = await slack.sendInteraction(
        interactions,
        slack.blockActions({ user: OLGA, message: m2, actionId: 'warden_deny' }),
      );
      expect(olga.status).toBe(200);
      const denied = await second;
      expect(denied.status).toBe(200);
      expect(denied.body).toMatchObject({ effect: 'block', approval: { status: 'denied' } });
      await eventually('the denial in the message', () =>
        /Denied.*olga@x/.test(JSON.stringify(m2.blocks)) ? true : undefined,
      );
      expect(buttons(m2).map((b) => b.action_id)).toEqual(['warden_open']);

      // Decided without Slack (the rule's one-second timeout): the message says so and loses its buttons.
      seen = slack.messages.length;
      const held = await api<{ effect: string }>(server.url, 'POST', '/v1/calls', {
        key: agent,
        body: { tool: 'restart', args: { what: 'web' }, session: 'sso-3' },
      });
      expect(held.body.effect).toBe('review');
      const m3 = await newMessage(seen);
      expect(buttons(m3).map((b) => b.action_id)).toContain('warden_approve');
      await eventually('the expiry in the message', () =>
        /Expired.*nobody decided in time/.test(JSON.stringify(m3.blocks)) ? true : undefined,
      );
      expect(buttons(m3).map((b) => b.action_id)).toEqual(['warden_open']);
      // A click on a stale copy of the message is told the request is decided, and the message is set right.
      const late = await slack.sendInteraction(
        interactions,
        slack.blockActions({
          user: OLGA,
          message: { ...m3, blocks: m3.history[0]?.blocks ?? [] },
          actionId: 'warden_approve',
        }),
      );
      expect(late.status).toBe(200);
      const told = await eventually('the ephemeral about the decided request', () =>
        slack
          .callsOf('chat.postEphemeral')
          .find((c) => c.args.user === OLGA && /APPROVAL_DECIDED/.test(String(c.args.text))),
      );
      expect(told.answer).toMatchObject({ ok: true });
      passed = true;
    } finally {
      const exit = await server.stop();
      if (passed) expect(exit.code, exit.err).toBe(0);
    }
  }, 120_000);

  it('a bot token Slack refuses (invalid_auth) is recorded as an undelivered notification and logged', async () => {
    const { server, agent } = await serve('badtoken', 'xoxb-0000-1111-notTheAppsToken');
    let passed = false;
    try {
      const before = slack.callsOf('chat.postMessage').length;
      const held = await api<{ effect: string }>(server.url, 'POST', '/v1/calls', {
        key: agent,
        body: { tool: 'change', args: { n: 'bad token' }, session: 'bad-token' },
      });
      expect(held.body.effect).toBe('review');
      const notified = await eventually(
        'approval.notified',
        async () => (await audit(server.url, 'approval.notified'))[0],
      );
      expect(notified.data).toMatchObject({
        target: 'slack:app',
        delivered: false,
        attempts: 1,
        error: 'Slack chat.postMessage: invalid_auth',
      });
      const refusedCalls = slack.callsOf('chat.postMessage').slice(before);
      expect(refusedCalls.map((c) => c.answer)).toEqual([{ ok: false, error: 'invalid_auth' }]);
      const [line] = await eventually('the warn line', () => {
        const lines = logged(server.stderr(), 'could not be delivered');
        return lines.length ? lines : undefined;
      });
      expect(line).toMatchObject({
        level: 'warn',
        webhook: 'slack:app',
        error: 'Slack chat.postMessage: invalid_auth',
      });
      expect(server.stderr()).not.toContain('xoxb-0000-1111-notTheAppsToken');
      passed = true;
    } finally {
      const exit = await server.stop();
      if (passed) expect(exit.code, exit.err).toBe(0);
    }
  }, 60_000);
  it('refuses outsiders, unconfirmed emails, stale sign-ins and shared emails; one person is one voter under every name; request data is shown verbatim; a replayed click does nothing', async () => {
    const EVE = 'U0EVE00001';
    const MUTE = 'U0MUTE0001';
    const DAVE = 'U0DAVE0001';
    const BO = 'U0BO000001';
    const OLD = 'U0OLD00001';
    // Eve is a Slack Connect member of another organisation whose admin gave her Olga's email.
    slack.addUser({ id: EVE, name: 'eve', email: 'olga@x', teamId: 'T0OTHERORG', isStranger: true });
    // Slack does not say Mute's email is confirmed (no is_email_confirmed): it is not.
    slack.addUser({ id: MUTE, name: 'mute', email: 'olga@x', emailConfirmed: null });
    slack.addUser({ id: DAVE, name: 'dave', email: 'dave@x' });
    slack.addUser({ id: BO, name: 'bo', email: 'bo@corp.example' });
    slack.addUser({ id: OLD, name: 'old', email: 'old@corp.example' });
    const person = (p: Partial<PersonRecord> & Pick<PersonRecord, 'subject'>): PersonRecord => ({
      issuer: 'https://idp.example.com',
      name: p.subject, // personClaim: sub names people by an opaque subject
      email: null,
      displayName: null,
      role: 'approver',
      groups: ['ops'],
      approverGroups: ['ops'],
      firstSignedInAt: '2026-01-01T00:00:00.000Z',
      lastSignedInAt: new Date().toISOString(),
      ...p,
    });
    const { server, db, agent } = await serve('guard');
    const interactions = `${server.url}/slack/interactions`;
    let passed = false;
    try {
      const store = await openStore(db);
      try {
        const people = [
          // Dave signed in through SSO (subject dave-0001) and also holds a human key as dave@x.
          person({ subject: 'dave-0001', email: 'dave@x', approverGroups: ['ops', 'security'] }),
          // Two people at two issuers have bo@corp.example.
          person({ subject: 'bo-a', email: 'bo@corp.example' }),
          person({ issuer: 'https://idp2.example.com', subject: 'bo-b', email: 'bo@corp.example' }),
          // Old last signed in nine hours ago: the role saved then is too old to act on.
          person({
            subject: 'old-0001',
            email: 'old@corp.example',
            lastSignedInAt: new Date(Date.now() - 9 * 3_600_000).toISOString(),
          }),
        ];
        await store.commit([
          { mutations: people.map((p) => ({ kind: 'person.upsert' as const, person: p })), events: [] },
        ]);
      } finally {
        await store.close();
      }
      const daveKey = await warden([
        'keys',
        'create',
        '--human',
        'dave@x',
        '--role',
        'approver',
        '--db',
        db,
        '--json',
      ]);
      expect(daveKey.code, daveKey.err).toBe(0);
      const daveSecret = (JSON.parse(daveKey.out) as { secret: string }).secret;
      const held = async (body: Record<string, unknown>) => {
        const seen = slack.messages.length;
        const r = await api<{ effect: string; approval: { id: string } }>(server.url, 'POST', '/v1/calls', {
          key: agent,
          body,
        });
        expect(r.body.effect).toBe('review');
        const message = await eventually('the message', () =>
          slack.messages.length > seen ? slack.messages.at(-1) : undefined,
        );
        return { id: r.body.approval.id, message };
      };
      const click = (user: string, message: StandinMessage) =>
        slack.sendInteraction(
          interactions,
          slack.blockActions({ user, message, actionId: 'warden_approve' }),
        );
      const toldTo = (user: string, text: RegExp) =>
        eventually(`what ${user} was told`, () =>
          slack
            .callsOf('chat.postEphemeral')
            .find((c) => c.args.user === user && text.test(String(c.args.text))),
        );
      const refusals = async (id: string) =>
        (await audit(server.url, 'approval.refused'))
          .filter((e) => e.data.approvalId === id)
          .map((e) => [e.actor.id, e.data.code]);

      // The agent writes the name, and a name can pretend to be verified: the proof is a field of its own.
      const a = await held({
        tool: 'change',
        args: { note: 'approve at https://evil.example #general @channel <https://evil.example|here>' },
        session: 'guard-1',
        triggeredBy: 'mallory (verified by SSO: https://idp.example.com)',
      });
      const fields = (a.message.blocks.find((b) => Array.isArray(b.fields))?.fields ?? []) as {
        text: string;
      }[];
      const texts = fields.map((f) => f.text);
      expect(texts).toContain('*Triggered by*\nmallory (verified by SSO: https://idp.example.com)');
      // Always there, in its own field: what the decision recorded, or that nothing was recorded.
      expect(texts.filter((t) => t.startsWith('*Initiator proof*\n'))).toEqual([
        expect.stringMatching(/^\*Initiator proof\*\n(claimed, unverified|not recorded)$/),
      ]);
      const mrkdwn: Record<string, unknown>[] = [];
      JSON.stringify(a.message.blocks, (_k, v) => {
        if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'mrkdwn') mrkdwn.push(v);
        return v;
      });
      expect(mrkdwn.length).toBeGreaterThan(5);
      for (const t of mrkdwn) expect(t).toMatchObject({ verbatim: true });
      expect(JSON.stringify(a.message.blocks)).toContain('&lt;https://evil.example|here&gt;');

      // Eve (another organisation), Mute (email not confirmed), Bo (an email two people share) and Old
      // (signed in too long ago) are all refused, told why, and recorded; nobody voted.
      for (const user of [EVE, MUTE, BO, OLD]) expect((await click(user, a.message)).status).toBe(200);
      await toldTo(EVE, /workspace T0OTHERORG, not T0WARDEN1/);
      await toldTo(MUTE, /olga@x is not confirmed/);
      await toldTo(BO, /2 SSO people share/);
      await toldTo(OLD, /Sign in to Warden again/);
      await eventually('four refusals', async () => ((await refusals(a.id)).length >= 4 ? true : undefined));
      expect(await refusals(a.id)).toEqual(
        expect.arrayContaining([
          [`slack:${EVE}`, 'SLACK_FOREIGN_USER'],
          [`slack:${MUTE}`, 'SLACK_USER_UNMAPPED'],
          [`slack:${BO}`, 'SLACK_EMAIL_AMBIGUOUS'],
          [`slack:${OLD}`, 'SLACK_SIGN_IN_STALE'],
        ]),
      );
      expect((await approval(server.url, a.id)).votes).toEqual([]);
      // Eve was refused on the payload's workspace alone, before any users.info.
      expect(slack.callsOf('users.info').filter((c) => c.args.user === EVE)).toEqual([]);

      // A captured click sent again (same signed body, within Slack's window) does nothing more.
      const muteClick = click(MUTE, a.message);
      const first = await muteClick;
      await eventually('the second refusal of Mute', async () =>
        (await refusals(a.id)).filter(([who]) => who === `slack:${MUTE}`).length === 2 ? true : undefined,
      );
      const lookups = slack.callsOf('users.info').length;
      const replay = await fetch(interactions, { method: 'POST', headers: first.headers, body: first.body });
      expect(replay.status).toBe(200);
      // The replay's answer came after its handling (well within the 2.5 s Slack is answered by).
      expect(slack.callsOf('users.info').length).toBe(lookups);
      expect((await refusals(a.id)).filter(([who]) => who === `slack:${MUTE}`)).toHaveLength(2);
      const [ignored] = await eventually('the replay in the log', () => {
        const lines = logged(server.stderr(), 'a replayed Slack click was ignored');
        return lines.length ? lines : undefined;
      });
      expect(ignored).toMatchObject({ level: 'warn', approvalId: a.id, slackUser: MUTE });

      // Dave triggered this task as dave@x (his key's name); in Slack he is SSO person dave-0001: still him.
      const b = await held({ tool: 'change', args: { n: 2 }, session: 'guard-2', triggeredBy: 'dave@x' });
      expect((await click(DAVE, b.message)).status).toBe(200);
      await toldTo(DAVE, /APPROVAL_SELF_APPROVAL/);
      expect(await refusals(b.id)).toEqual([['dave-0001', 'APPROVAL_SELF_APPROVAL']]);
      expect((await approval(server.url, b.id)).status).toBe('pending');

      // A DBA and a security reviewer must approve: Dave, a DBA by his key, cannot be the reviewer too by SSO.
      const c = await held({ tool: 'db.write', args: { n: 3 }, session: 'guard-3' });
      const byKey = await api<Approval>(server.url, 'POST', `/v1/approvals/${c.id}/approve`, {
        key: daveSecret,
        body: {},
      });
      expect(byKey.status, JSON.stringify(byKey.body)).toBe(200);
      expect((await click(DAVE, c.message)).status).toBe(200);
      await toldTo(DAVE, /APPROVAL_ALREADY_VOTED/);
      const after = await approval(server.url, c.id);
      expect(after.status).toBe('pending');
      expect(after.votes.map((v) => v.principal)).toEqual(['dave@x']);
      passed = true;
    } finally {
      const exit = await server.stop();
      if (passed) expect(exit.code, exit.err).toBe(0);
    }
  }, 120_000);
});

describe('approving from Slack as an SSO person (warden serve, the real OpenID provider, Slack stood in)', () => {
  const SECRET = 'warden-slack-sso-secret-0123456789';
  /** Slack users whose Slack emails are their IdP emails. */
  const SAM = 'U0SAM00001';
  const KIM = 'U0KIM00001';
  let idp: OidcProviderFixture | undefined;

  afterAll(async () => {
    await idp?.close();
  });

  it('maps a Slack user to the person who signed in with that email; an IdP group removed at the next sign-in stops them; keys map no one when only SSO signs people in', async () => {
    slack.addUser({ id: SAM, name: 'sam', email: 'sam@acme.example' });
    slack.addUser({ id: KIM, name: 'kim', email: 'olga@x' });
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    idp = await startOidcProvider({
      accounts: { sam: { email: 'sam@acme.example', name: 'Sam', groups: ['warden-approvers', 'ops'] } },
      clients: [
        { clientId: 'warden', clientSecret: SECRET, redirectUris: [`${base}/v1/auth/oidc/callback`] },
      ],
    });
    const db = join(dir, 'sso-signin.db');
    const config = join(dir, 'sso-signin.json');
    writeFileSync(
      config,
      JSON.stringify({
        db,
        port,
        policy: POLICY,
        webhookPollMs: 50,
        logLevel: 'warn',
        auth: {
          keySignIn: false,
          oidc: {
            issuer: idp.issuer,
            clientId: 'warden',
            clientSecret: 'env:TEST_OIDC_SECRET',
            roles: { approver: ['warden-approvers'] },
            approverGroups: ['ops'],
          },
        },
        slack: {
          botToken: 'env:TEST_SLACK_BOT_TOKEN',
          signingSecret: 'env:TEST_SLACK_SIGNING_SECRET',
          channel: CHANNEL,
          apiBaseUrl: slack.apiBaseUrl,
          teamId: STANDIN_TEAM,
        },
      }),
    );
    const server = await spawnServe(['--config', config], {
      WARDEN_ADMIN_KEY: ADMIN,
      TEST_OIDC_SECRET: SECRET,
      TEST_SLACK_BOT_TOKEN: slack.token,
      TEST_SLACK_SIGNING_SECRET: slack.signingSecret,
    });
    const interactions = `${server.url}/slack/interactions`;
    let passed = false;
    try {
      const made = await warden(['keys', 'create', '--agent', 'ops-bot', '--db', db, '--json']);
      expect(made.code, made.err).toBe(0);
      const agent = (JSON.parse(made.out) as { secret: string }).secret;
      // Human keys (the bootstrap admin's too) are refused here: a service key reads for the test.
      const svc = await warden([
        'keys',
        'create',
        '--service',
        'test-reader',
        '--role',
        'admin',
        '--db',
        db,
        '--json',
      ]);
      expect(svc.code, svc.err).toBe(0);
      const reader = (JSON.parse(svc.out) as { secret: string }).secret;
      // olga@x has a human key, but people sign in only through SSO here: her key maps nobody.
      const k = await warden(['keys', 'create', '--human', 'olga@x', '--role', 'approver', '--db', db]);
      expect(k.code, k.err).toBe(0);
      const signIn = async () => {
        const jar = new CookieJar();
        await browse(
          `${base}/v1/auth/oidc/login?returnTo=%2Fapprovals`,
          { login: 'sam' },
          { jar, stop: (l) => l.startsWith(base) && !l.startsWith(`${base}/v1/auth/oidc/`) },
        );
        expect(jar.get(base, 'warden_session')).toBeTruthy();
      };
      await signIn();
      const held = async (n: number) => {
        const seen = slack.messages.length;
        const r = await api<{ effect: string; approval: { id: string } }>(server.url, 'POST', '/v1/calls', {
          key: agent,
          body: { tool: 'change', args: { n }, session: `sso-signin-${n}` },
        });
        expect(r.body.effect).toBe('review');
        const message = await eventually('the message', () =>
          slack.messages.length > seen ? slack.messages.at(-1) : undefined,
        );
        return { id: r.body.approval.id, message };
      };
      const click = async (user: string, message: StandinMessage) =>
        (
          await slack.sendInteraction(
            interactions,
            slack.blockActions({ user, message, actionId: 'warden_approve' }),
          )
        ).status;
      const toldTo = (user: string, text: RegExp) =>
        eventually(`what ${user} was told`, () =>
          slack
            .callsOf('chat.postEphemeral')
            .find((c) => c.args.user === user && text.test(String(c.args.text))),
        );

      const first = await held(1);
      expect(await click(KIM, first.message)).toBe(200);
      await toldTo(KIM, /people sign in only through SSO here/);
      expect(await click(SAM, first.message)).toBe(200);
      await eventually('approved by Sam', async () =>
        (await approval(server.url, first.id, reader)).status === 'approved' ? true : undefined,
      );
      const votes = (
        await api<{ votes: Record<string, unknown>[] }>(server.url, 'GET', `/v1/approvals/${first.id}`, {
          key: reader,
        })
      ).body.votes;
      expect(votes).toEqual([
        expect.objectContaining({
          principal: 'sam@acme.example',
          via: 'slack',
          issuer: idp.issuer,
          subject: 'sam',
          groups: ['ops'],
        }),
      ]);

      // The IdP takes Sam out of ops; at his next sign-in Warden knows, and Slack cannot make him an approver.
      idp.setGroups('sam', ['warden-approvers']);
      await signIn();
      const second = await held(2);
      expect(await click(SAM, second.message)).toBe(200);
      await toldTo(SAM, /APPROVAL_NOT_ELIGIBLE/);
      expect((await approval(server.url, second.id, reader)).status).toBe('pending');
      const refused = await audit(server.url, 'approval.refused', reader);
      expect(refused.map((e) => e.data.code)).toEqual(
        expect.arrayContaining(['SLACK_USER_UNMAPPED', 'APPROVAL_NOT_ELIGIBLE']),
      );
      passed = true;
    } finally {
      const exit = await server.stop();
      if (passed) expect(exit.code, exit.err).toBe(0);
    }
  }, 180_000);
});
