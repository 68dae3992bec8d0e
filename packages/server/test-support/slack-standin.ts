/**
 * A local stand-in for Slack, for tests: Slack cannot be reached from here. An HTTP server on 127.0.0.1
 * that answers the Web API methods Warden calls as Slack answers them (`chat.postMessage`, `chat.update`,
 * `chat.postEphemeral`, `users.info`: HTTP 200 with `{ ok: true, … }`, or `{ ok: false, error }` such as
 * `invalid_auth`, `not_authed`, `channel_not_found`, `message_not_found`, `user_not_found`), records every
 * request, and sends Warden signed interactivity requests (a `block_actions` payload in a form body, signed
 * with X-Slack-Signature / X-Slack-Request-Timestamp) as Slack does when someone clicks a button.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { slackSignature } from '../src/notify/slack-signature.js';

/** A workspace member as users.info shows them. */
export interface StandinUser {
  readonly id: string;
  readonly name: string;
  readonly email?: string;
  readonly deleted?: boolean;
  readonly isBot?: boolean;
  /** The member's home workspace (`team_id`); default the stand-in's own, STANDIN_TEAM. */
  readonly teamId?: string;
  /** A Slack Connect member of another organisation, as users.info marks them (`is_stranger: true`). */
  readonly isStranger?: boolean;
  /** `is_email_confirmed`: default true; `null` leaves the field out, as Slack does for some users. */
  readonly emailConfirmed?: boolean | null;
}

/** One Web API request as it arrived. */
export interface RecordedCall {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  /** The arguments: the JSON body, or the form/query fields. */
  readonly args: Record<string, unknown>;
  /** What the stand-in answered. */
  readonly answer: Record<string, unknown>;
}

/** A message in a channel, as the stand-in keeps it (updated in place by chat.update). */
export interface StandinMessage {
  readonly channel: string;
  readonly ts: string;
  text: string;
  blocks: Record<string, unknown>[];
  readonly history: { text: string; blocks: Record<string, unknown>[] }[];
}

/** What a click is: who clicks which button on which message. */
export interface Click {
  readonly user: string;
  readonly message: StandinMessage;
  readonly actionId: string;
}

export const STANDIN_TEAM = 'T0WARDEN1';
export const STANDIN_APP = 'A0WARDEN1';
const BOT_ID = 'B0WARDEN1';
const BOT_USER = 'U0WARDENBOT';

/** A running stand-in. */
export interface SlackStandin {
  /** The Web API base (what `slack.apiBaseUrl` points at): `http://127.0.0.1:<port>/api`. */
  readonly apiBaseUrl: string;
  readonly token: string;
  readonly signingSecret: string;
  readonly calls: RecordedCall[];
  readonly messages: StandinMessage[];
  /** Calls of one method. */
  callsOf(method: string): RecordedCall[];
  /** Adds a workspace member (users.info knows them, ephemeral messages reach them). */
  addUser(user: StandinUser): void;
  /** The exact `block_actions` payload Slack sends for `click`. */
  blockActions(click: Click): Record<string, unknown>;
  /**
   * POSTs a click to `url` as Slack does. `sign` overrides what is signed: another secret, another
   * timestamp, or a body other than the one sent (a tampered replay).
   */
  sendInteraction(
    url: string,
    payload: Record<string, unknown>,
    sign?: { secret?: string; timestamp?: number; body?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; text: string; body: string; headers: Record<string, string> }>;
  close(): Promise<void>;
}

/** Starts the stand-in with its channel(s) and workspace members. */
export async function startSlackStandin(o: {
  channels: readonly string[];
  users: readonly StandinUser[];
}): Promise<SlackStandin> {
  const token = `xoxb-${Date.now()}-${randomBytes(8).toString('hex')}`;
  const signingSecret = randomBytes(16).toString('hex');
  const calls: RecordedCall[] = [];
  const messages: StandinMessage[] = [];
  const users = new Map(o.users.map((u) => [u.id, u]));
  const channels = new Set(o.channels);
  let seq = 0;
  const newTs = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;

  const methods: Record<string, (args: Record<string, unknown>) => Record<string, unknown>> = {
    'chat.postMessage': (a) => {
      const channel = String(a.channel ?? '');
      if (!channels.has(channel)) return { ok: false, error: 'channel_not_found' };
      if (!a.text && !a.blocks) return { ok: false, error: 'no_text' };
      const blocks = blocksOf(a.blocks);
      if (blocks === undefined) return { ok: false, error: 'invalid_blocks' };
      const m: StandinMessage = { channel, ts: newTs(), text: String(a.text ?? ''), blocks, history: [] };
      messages.push(m);
      return { ok: true, channel, ts: m.ts, message: botMessage(m) };
    },
    'chat.update': (a) => {
      const m = messages.find((x) => x.channel === a.channel && x.ts === a.ts);
      if (!a.channel || !channels.has(String(a.channel))) return { ok: false, error: 'channel_not_found' };
      if (!m) return { ok: false, error: 'message_not_found' };
      const blocks = a.blocks === undefined ? m.blocks : blocksOf(a.blocks);
      if (blocks === undefined) return { ok: false, error: 'invalid_blocks' };
      m.history.push({ text: m.text, blocks: m.blocks });
      m.text = String(a.text ?? m.text);
      m.blocks = blocks;
      return { ok: true, channel: m.channel, ts: m.ts, text: m.text, message: botMessage(m) };
    },
    'chat.postEphemeral': (a) => {
      if (!channels.has(String(a.channel ?? ''))) return { ok: false, error: 'channel_not_found' };
      if (!users.has(String(a.user ?? ''))) return { ok: false, error: 'user_not_in_channel' };
      if (!a.text && !a.blocks) return { ok: false, error: 'no_text' };
      return { ok: true, message_ts: newTs() };
    },
    'users.info': (a) => {
      const u = users.get(String(a.user ?? ''));
      if (!u) return { ok: false, error: 'user_not_found' };
      return { ok: true, user: userObject(u) };
    },
  };

  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      raw += c;
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://standin');
      const method = url.pathname.replace(/^\/api\//, '');
      const type = String(req.headers['content-type'] ?? '');
      let args: Record<string, unknown> = Object.fromEntries(url.searchParams);
      const warnings: string[] = [];
      if (type.startsWith('application/json')) {
        // Slack reads JSON bodies only for methods that take them, and warns when the charset is missing.
        if (!/charset=utf-8/i.test(type)) warnings.push('missing_charset');
        try {
          args = { ...args, ...(JSON.parse(raw) as Record<string, unknown>) };
        } catch {
          return send(res, 200, { ok: false, error: 'invalid_json' });
        }
      } else if (type.startsWith('application/x-www-form-urlencoded')) {
        args = { ...args, ...Object.fromEntries(new URLSearchParams(raw)) };
      }
      let answer: Record<string, unknown>;
      const auth = req.headers.authorization;
      const given = auth?.startsWith('Bearer ') ? auth.slice(7) : (args.token as string | undefined);
      const handler = methods[method];
      if (!url.pathname.startsWith('/api/') || !handler) answer = { ok: false, error: 'unknown_method' };
      else if (!given) answer = { ok: false, error: 'not_authed' };
      else if (given !== token) answer = { ok: false, error: 'invalid_auth' };
      else if (method === 'users.info' && type.startsWith('application/json'))
        // users.info takes form fields or a query string only; a JSON body's fields are not read.
        answer = handler({ ...Object.fromEntries(url.searchParams) });
      else answer = handler(args);
      if (warnings.length > 0)
        answer = { ...answer, warning: warnings.join(','), response_metadata: { warnings } };
      calls.push({ method, headers: req.headers, raw, args, answer });
      send(res, answer.error === 'unknown_method' ? 404 : 200, answer);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const blockActions = (click: Click): Record<string, unknown> => {
    const u = users.get(click.user);
    const { block, element } = findButton(click.message.blocks, click.actionId);
    return {
      type: 'block_actions',
      user: {
        id: click.user,
        username: u?.name ?? 'someone',
        name: u?.name ?? 'someone',
        team_id: u?.teamId ?? STANDIN_TEAM,
      },
      api_app_id: STANDIN_APP,
      token: 'verification-token-deprecated',
      container: {
        type: 'message',
        message_ts: click.message.ts,
        channel_id: click.message.channel,
        is_ephemeral: false,
      },
      trigger_id: `${Date.now()}.${randomBytes(6).toString('hex')}`,
      // Slack names the clicker's workspace here: a Slack Connect member's own, not the channel's host.
      team: { id: u?.teamId ?? STANDIN_TEAM, domain: 'warden-standin' },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: click.message.channel, name: 'approvals' },
      message: botMessage(click.message),
      state: { values: {} },
      response_url: `${base}/actions/${STANDIN_TEAM}/${Date.now()}/${randomBytes(12).toString('hex')}`,
      actions: [
        {
          action_id: element.action_id,
          block_id: block.block_id,
          text: element.text,
          value: element.value,
          ...(element.style ? { style: element.style } : {}),
          type: 'button',
          action_ts: `${(Date.now() / 1000).toFixed(6)}`,
        },
      ],
    };
  };

  return {
    apiBaseUrl: `${base}/api`,
    token,
    signingSecret,
    calls,
    messages,
    callsOf: (method) => calls.filter((c) => c.method === method),
    addUser: (user) => {
      users.set(user.id, user);
    },
    blockActions,
    async sendInteraction(url, payload, sign = {}) {
      const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
      const timestamp = String(sign.timestamp ?? Math.floor(Date.now() / 1000));
      const signature = slackSignature(sign.secret ?? signingSecret, timestamp, sign.body ?? body);
      const headers = {
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
        'x-slack-request-timestamp': timestamp,
        'x-slack-signature': signature,
        ...sign.headers,
      };
      const res = await fetch(url, { method: 'POST', headers, body });
      return { status: res.status, text: await res.text(), body, headers };
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function send(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/** Blocks as Slack takes them: an array, or a JSON string of one (form-encoded calls); else undefined. */
function blocksOf(v: unknown): Record<string, unknown>[] | undefined {
  if (v === undefined) return [];
  const parsed = typeof v === 'string' ? safeJson(v) : v;
  if (!Array.isArray(parsed) || parsed.length > 50) return undefined;
  if (!parsed.every((b) => typeof b === 'object' && b !== null && typeof b.type === 'string'))
    return undefined;
  return parsed as Record<string, unknown>[];
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** The message object Slack returns for a bot's post. */
function botMessage(m: StandinMessage): Record<string, unknown> {
  return {
    type: 'message',
    subtype: 'bot_message',
    text: m.text,
    ts: m.ts,
    user: BOT_USER,
    bot_id: BOT_ID,
    app_id: STANDIN_APP,
    team: STANDIN_TEAM,
    blocks: m.blocks,
  };
}

/** users.info's `user` object. */
function userObject(u: StandinUser): Record<string, unknown> {
  const confirmed = u.emailConfirmed === undefined ? true : u.emailConfirmed;
  return {
    id: u.id,
    team_id: u.teamId ?? STANDIN_TEAM,
    name: u.name,
    deleted: u.deleted ?? false,
    color: '9f69e7',
    real_name: u.name,
    tz: 'Europe/Berlin',
    tz_label: 'Central European Time',
    tz_offset: 3600,
    profile: {
      title: '',
      phone: '',
      real_name: u.name,
      real_name_normalized: u.name,
      display_name: u.name,
      display_name_normalized: u.name,
      ...(u.email ? { email: u.email } : {}),
      team: u.teamId ?? STANDIN_TEAM,
    },
    is_admin: false,
    is_owner: false,
    is_primary_owner: false,
    is_restricted: false,
    is_ultra_restricted: false,
    is_bot: u.isBot ?? false,
    is_app_user: false,
    updated: Math.floor(Date.now() / 1000),
    ...(confirmed === null ? {} : { is_email_confirmed: confirmed }),
    ...(u.isStranger ? { is_stranger: true } : {}),
  };
}

/** The button with `actionId` in a message's actions blocks, and its block. */
function findButton(
  blocks: readonly Record<string, unknown>[],
  actionId: string,
): { block: Record<string, unknown>; element: Record<string, unknown> } {
  for (const block of blocks) {
    if (block.type !== 'actions') continue;
    const element = (block.elements as Record<string, unknown>[]).find((e) => e.action_id === actionId);
    if (element) return { block, element };
  }
  throw new Error(`the message has no button ${actionId}`);
}
