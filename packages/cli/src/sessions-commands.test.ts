import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test-support/server-fixtures.js';
import { run } from '../test/cli-run.js';
import { amount, localTime, usageBar, windowText } from './commands/budgets.js';
import { parseRaise } from './commands/sessions.js';

const POLICY = fileURLToPath(new URL('../../server/test/fixtures/budgets-policy', import.meta.url));
const STACK = /\n\s+at .*:\d+:\d+/;

let ts: TestServer;
let bot: string;
let lina: string;
let tom: string;
let auditor: string;

beforeAll(async () => {
  ts = await startTestServer('sqlite', { policy: POLICY }, { listen: true });
  bot = await ts.key('agent', 'spend-bot', 'agent');
  lina = await ts.key('human', 'lina@acme.example', 'approver');
  tom = await ts.key('human', 'tom@acme.example', 'approver');
  auditor = await ts.key('human', 'audrey@acme.example', 'auditor');
});

afterAll(async () => {
  await ts?.close();
});

/** `warden …argv --url <the test server> --key <key>`. */
function cli(key: string, ...argv: string[]) {
  return run([...argv, '--url', ts.server.url, '--key', key], ts.dir);
}

/** A spend-bot call in `session` that Tom started, completed with 250 output tokens when allowed. */
async function call(session: string, i: number): Promise<{ effect: string; code?: string }> {
  const r = await ts.request('POST', '/v1/calls', {
    key: bot,
    body: { tool: 'search', args: { q: `q${i}` }, session, triggeredBy: 'tom@acme.example' },
  });
  expect(r.statusCode, r.body).toBe(200);
  const out = r.json() as { callId: string; effect: string; code?: string };
  if (out.effect === 'allow') {
    const c = await ts.request('POST', `/v1/calls/${out.callId}/complete`, {
      key: bot,
      body: { status: 'ok', usage: { outputTokens: 250 } },
    });
    expect(c.statusCode, c.body).toBe(200);
  }
  return out;
}

describe('warden sessions and warden budgets', () => {
  it('lists the session a budget paused, shows its budgets, refuses the stakeholder and resumes with a raise', async () => {
    const session = 'cli-ses-1';
    for (let i = 0; i < 3; i++) await call(session, i);
    expect(await call(session, 3)).toMatchObject({ effect: 'block', code: 'BUDGET_EXCEEDED' });

    const list = await cli(lina, 'sessions', 'list', '--paused');
    expect(list.code, list.err).toBe(0);
    const row = list.out.split('\n').find((l) => l.startsWith(session)) as string;
    expect(row).toMatch(
      /^cli-ses-1\s+spend-bot\s+paused\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+tom@acme\.example\s+\S/,
    );
    expect(list.err).toContain('warden sessions resume ID --reason TEXT');
    const json = JSON.parse(
      (await cli(lina, 'sessions', 'list', '--paused', '--agent', 'spend-bot', '--json')).out,
    );
    expect((json as { sessions: { id: string; state: string }[] }).sessions).toContainEqual(
      expect.objectContaining({ id: session, state: 'paused' }),
    );
    const none = await cli(lina, 'sessions', 'list', '--paused', '--agent', 'nobody');
    expect([none.code, none.out, none.err]).toEqual([0, '', 'no paused sessions of agent nobody\n']);

    const show = await cli(auditor, 'sessions', 'show', session);
    expect(show.code, show.err).toBe(0);
    expect(show.out).toContain(`Session ${session}`);
    expect(show.out).toMatch(/state\s+paused: \S/);
    expect(show.out).toMatch(/calls\s+3 allowed, 0 reviewed, 1 blocked; 3 completed, 0 failed/);
    expect(show.out).toMatch(/tokens\s+0 in, 750 out/);
    expect(show.out).toContain(`resume with: warden sessions resume ${session} --reason TEXT`);
    expect(show.out).toMatch(
      /session-calls\s+session:cli-ses-1\s+session\s+calls\s+3 \/ 3\s+██████████ 100%\s+0\s+0/,
    );
    expect(show.out).toMatch(
      /daily-tokens\s+agent:spend-bot\s+day from \d{4}-\d\d-\d\d \d\d:\d\d\s+tokens\s+750 \/ 10,000/,
    );

    const self = await cli(
      tom,
      'sessions',
      'resume',
      session,
      '--reason',
      'mine',
      '--raise',
      'session-calls=9',
    );
    expect(self.code).toBe(2);
    expect(self.err).toContain('[APPROVAL_SELF_APPROVAL]');
    expect(self.err).not.toMatch(STACK);
    const unknown = await cli(lina, 'sessions', 'resume', session, '--reason', 'x', '--raise', 'nope=9');
    expect(unknown.err).toContain('[BUDGET_NOT_FOUND]');

    // A budget shared beyond the session cannot be raised through it.
    const shared = await cli(
      lina,
      'sessions',
      'resume',
      session,
      '--reason',
      'x',
      '--raise',
      'daily-tokens=20000',
    );
    expect(shared.err).toContain('[BUDGET_SHARED]');
    const ok = await cli(
      lina,
      'sessions',
      'resume',
      session,
      '--reason',
      'two more lookups',
      '--raise',
      'session-calls=5',
    );
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toBe(
      `Resumed ${session} (spend-bot).\nRaised session-calls to 5 for its current window.\n`,
    );
    expect((await call(session, 4)).effect).toBe('allow');

    const budgets = await cli(lina, 'budgets', 'show', '--session', session);
    expect(budgets.code, budgets.err).toBe(0);
    const [head, rule, ...rows] = budgets.out.trimEnd().split('\n');
    expect(head).toMatch(/^budget\s+scope\s+window\s+metric\s+used \/ limit\s+usage\s+reserved\s+remaining$/);
    expect(rule).toMatch(/^─+( +─+)+$/);
    expect(rows.find((l) => l.startsWith('session-calls'))).toMatch(
      /session:cli-ses-1\s+session\s+calls\s+4 \/ 5\s+████████░░ 80%\s+0\s+1$/,
    );
    expect(rows.find((l) => l.startsWith('daily-tokens'))).toMatch(
      /tokens\s+1,000 \/ 10,000\s+█░{9} 10%\s+0\s+9,000$/,
    );
    const asJson = JSON.parse((await cli(lina, 'budgets', 'show', '--session', session, '--json')).out) as {
      budgets: { budgetId: string; limit: number }[];
    };
    expect(asJson.budgets.find((b) => b.budgetId === 'session-calls')?.limit).toBe(5);
  });

  it('pauses a session with a reason; an auditor may look but not pause', async () => {
    const session = 'cli-ses-2';
    await call(session, 0);
    const refused = await cli(auditor, 'sessions', 'pause', session, '--reason', 'odd');
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('[FORBIDDEN]');
    const noReason = await cli(lina, 'sessions', 'pause', session);
    expect(noReason.code).toBe(2);
    expect(noReason.err).toContain("required option '--reason <text>'");
    const r = await cli(lina, 'sessions', 'pause', session, '--reason', 'looks like a loop');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(`Paused ${session} (spend-bot): its calls are blocked until someone resumes it.\n`);
    expect(await call(session, 1)).toMatchObject({ effect: 'block', code: 'SESSION_PAUSED' });
    const again = await cli(lina, 'sessions', 'pause', session, '--reason', 'again');
    expect(again.err).toContain('[SESSION_STATE]');
    const resumed = await cli(lina, 'sessions', 'resume', session, '--reason', 'checked', '--json');
    expect(JSON.parse(resumed.out)).toMatchObject({ id: session, state: 'active' });
  });

  it('an agent key sees only its own budgets; errors say how to fix them', async () => {
    await call('cli-ses-3', 0);
    const mine = await cli(bot, 'budgets', 'show');
    expect(mine.code, mine.err).toBe(0);
    expect(mine.out).toContain('agent:spend-bot');
    const theirs = await cli(bot, 'budgets', 'show', '--agent', 'other-bot');
    expect(theirs.code).toBe(2);
    expect(theirs.err).toContain('[AGENT_MISMATCH]');
    const empty = await cli(lina, 'budgets', 'show', '--agent', 'other-bot');
    expect([empty.code, empty.out]).toEqual([0, '']);
    expect(empty.err).toContain('no budget counters for agent other-bot yet');

    const unknown = await cli(lina, 'sessions', 'show', 'no-such-session');
    expect([unknown.code, unknown.err]).toEqual([
      2,
      'warden: no session has id no-such-session [SESSION_NOT_FOUND]\n',
    ]);
    const badRaise = await cli(lina, 'sessions', 'resume', 'cli-ses-3', '--reason', 'x', '--raise', 'calls');
    expect(badRaise.code).toBe(2);
    expect(badRaise.err).toContain('--raise "calls" must be BUDGET=LIMIT');
    const noKey = await run(['budgets', 'show', '--url', ts.server.url], ts.dir);
    expect(noKey.code).toBe(2);
    expect(noKey.err).toContain('set --key or WARDEN_KEY');
    const down = await run(['sessions', 'list', '--url', 'http://127.0.0.1:9', '--key', lina], ts.dir);
    expect(down.code).toBe(2);
    expect(down.err).toContain('is `warden serve` running there?');
    expect((await cli(lina, 'sessions', 'list', '--limit', 'lots')).err).toContain('[USAGE]');
  });
});

describe('budget table cells', () => {
  it('draws a ten-cell bar with the percent, full at or over the limit', () => {
    expect(usageBar(0.8)).toBe('████████░░ 80%');
    expect(usageBar(0.7)).toBe('███████░░░ 70%');
    expect(usageBar(0)).toBe('░░░░░░░░░░ 0%');
    expect(usageBar(0.999)).toBe('█████████░ 100%');
    expect(usageBar(1.25)).toBe('██████████ 125%');
    expect(usageBar(Number.NaN)).toBe('—');
  });

  it('formats amounts and windows', () => {
    expect(amount(8.125, 'usd')).toBe('$8.13');
    expect(amount(-0.5, 'usd')).toBe('-$0.50');
    expect(amount(12_345.4, 'tokens')).toBe('12,345');
    expect(windowText({ window: 'session', windowStart: 'session' })).toBe('session');
    const start = '2026-03-01T23:00:00.000Z';
    expect(windowText({ window: 'day', windowStart: start })).toBe(`day from ${localTime(start)}`);
    expect(localTime(start)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d$/);
    expect(localTime('not a time')).toBe('not a time');
  });

  it('reads --raise as BUDGET=LIMIT', () => {
    expect(parseRaise('daily-spend=50')).toEqual({ budget: 'daily-spend', limit: 50 });
    expect(parseRaise(' tokens=1.5e6 ')).toEqual({ budget: 'tokens', limit: 1_500_000 });
    for (const bad of ['x', '=5', 'x=', 'x=0', 'x=-1', 'x=abc', 'a b=3']) {
      expect(() => parseRaise(bad), bad).toThrow(/BUDGET=LIMIT/);
    }
  });
});
