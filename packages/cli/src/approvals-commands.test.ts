import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test-support/server-fixtures.js';
import { run } from '../test/cli-run.js';
import { WAIT_EXIT } from './commands/approvals.js';

const STACK = /\n\s+at .*:\d+:\d+/;
const LEE = 'lee@acme.example';
const LINA = 'lina@acme.example';

let ts: TestServer;
let agent: string;
let lee: string;
let lina: string;
let auditor: string;

beforeAll(async () => {
  ts = await startTestServer('sqlite', {}, { listen: true });
  agent = await ts.key('agent', 'support-bot', 'agent');
  // Both are in the example policy's support-leads group, which reviews mid-size refunds.
  lee = await ts.key('human', LEE, 'approver');
  lina = await ts.key('human', LINA, 'approver');
  auditor = await ts.key('human', 'audrey@acme.example', 'auditor');
});

afterAll(async () => {
  await ts?.close();
});

/** `warden …argv --url <the test server> --key <key>`. */
function cli(key: string, ...argv: string[]) {
  return run([...argv, '--url', ts.server.url, '--key', key], ts.dir);
}

/** A support-bot refund the example policy sends to review (support-refund-review), started by Lee. */
async function reviewedRefund(amount = 120.5): Promise<string> {
  const r = await ts.request('POST', '/v1/calls', {
    key: agent,
    body: { tool: 'billing.refund', args: { amount, customer: 'C-42' }, triggeredBy: LEE },
  });
  expect(r.statusCode, r.body).toBe(200);
  const body = r.json() as { effect: string; ruleId: string; approval?: { id: string } };
  expect(body).toMatchObject({ effect: 'review', ruleId: 'support-refund-review' });
  return body.approval?.id as string;
}

async function status(id: string): Promise<string> {
  const r = await ts.request('GET', `/v1/approvals/${id}`, { key: ts.admin });
  return (r.json() as { status: string }).status;
}

describe('warden approvals', () => {
  it('lists and shows a pending request; the human who triggered it is refused, another approver approves', async () => {
    const id = await reviewedRefund();

    const list = await cli(lina, 'approvals', 'list');
    expect(list.code, list.err).toBe(0);
    const row = list.out.split('\n').find((l) => l.startsWith(id)) as string;
    expect(row).toBeDefined();
    expect(row).toMatch(
      /pending\s+support-bot\s+billing\.refund\s+support-refund-review\s+lee@acme\.example/,
    );
    expect(row).toContain('0/1 approvals');
    expect(row).toMatch(/in (1h\d+m|2h)/);

    const show = await cli(lina, 'approvals', 'show', id);
    expect(show.code, show.err).toBe(0);
    expect(show.out).toContain(`Approval request ${id}`);
    expect(show.out).toMatch(/triggered by\s+lee@acme\.example/);
    expect(show.out).toContain('Refunds over $50 need a support lead.');
    expect(show.out).toContain(`1 approval from group support-leads (${LEE}, ${LINA})`);
    expect(show.out).toContain('(1 denial denies it; on timeout: block)');
    expect(show.out).toMatch(/votes\s+none yet/);
    expect(show.out).toContain('"amount": 120.5');
    expect(show.out).toContain('"customer": "C-42"');
    const json = JSON.parse((await cli(lina, 'approvals', 'show', id, '--json')).out) as { id: string };
    expect(json.id).toBe(id);

    const self = await cli(lee, 'approvals', 'approve', id);
    expect(self.code).not.toBe(0);
    expect(self.err).toContain('[APPROVAL_SELF_APPROVAL]');
    expect(self.err).not.toMatch(STACK);
    expect(await status(id)).toBe('pending');

    const ok = await cli(lina, 'approvals', 'approve', id, '--reason', 'customer was double charged');
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toBe(`Voted approve on ${id}; the request is now approved (1/1 approvals).\n`);
    expect(await status(id)).toBe('approved');

    const after = await cli(lina, 'approvals', 'show', id);
    expect(after.out).toContain(`approved by ${LINA} (human, approver) at `);
    expect(after.out).toContain('via cli: "customer was double charged"');
    expect((await cli(lina, 'approvals', 'list')).out).not.toContain(id);
    expect((await cli(lina, 'approvals', 'list', '--status', 'approved')).out).toContain(id);
    expect((await cli(lina, 'approvals', 'list', '--status', 'all')).out).toContain(id);

    const again = await cli(lina, 'approvals', 'approve', id);
    expect(again.code).not.toBe(0);
    expect(again.err).toContain('[APPROVAL_DECIDED]');
  });

  it('denies with a reason, and an auditor may look but not vote', async () => {
    const id = await reviewedRefund(300);
    const refused = await cli(auditor, 'approvals', 'deny', id);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toContain('[FORBIDDEN]');
    expect((await cli(auditor, 'approvals', 'show', id)).code).toBe(0);

    const r = await cli(lina, 'approvals', 'deny', id, '--reason', 'refund already issued');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`Voted deny on ${id}; the request is now denied`);
    expect(await status(id)).toBe('denied');
    const show = await cli(lina, 'approvals', 'show', id);
    expect(show.out).toContain('"refund already issued"');
    expect(show.out).toMatch(/decided\s+denied by lina@acme\.example at /);
    expect(show.out).toMatch(/because\s+refund already issued/);
    const list = await cli(
      lina,
      'approvals',
      'list',
      '--status',
      'denied',
      '--agent',
      'support-bot',
      '--json',
    );
    const page = JSON.parse(list.out) as { approvals: { id: string }[] };
    expect(page.approvals.map((a) => a.id)).toContain(id);
  });

  it('waits until another approver decides: 0 approved, 1 denied or cancelled, 3 still pending', async () => {
    const id = await reviewedRefund();
    const pending = await cli(lina, 'approvals', 'wait', id, '--timeout', '1s');
    expect(pending.code, pending.err).toBe(WAIT_EXIT.pending);
    expect(pending.out).toContain(`${id} is still pending after 1s (0/1 approvals)`);

    const waiting = cli(lee, 'approvals', 'wait', id, '--timeout', '2m');
    // The long-poll is in flight once the server's hub tails for it; only then is the vote cast.
    await vi.waitFor(() => expect(ts.server.ctx.hub.tailing).toBe(true), { timeout: 10_000 });
    const vote = await cli(lina, 'approvals', 'approve', id);
    expect(vote.code, vote.err).toBe(0);
    const waited = await waiting;
    expect(waited.code, waited.err).toBe(WAIT_EXIT.approved);
    expect(waited.out).toBe(`${id}: approved by ${LINA}.\n`);

    const denied = await reviewedRefund();
    await cli(lina, 'approvals', 'deny', denied);
    expect((await cli(lina, 'approvals', 'wait', denied)).code).toBe(WAIT_EXIT.notApproved);

    const cancelled = await reviewedRefund();
    const c = await cli(ts.admin, 'approvals', 'cancel', cancelled, '--reason', 'duplicate ticket');
    expect(c.code, c.err).toBe(0);
    expect(c.out).toContain(`Cancelled ${cancelled}`);
    const w = await cli(lina, 'approvals', 'wait', cancelled, '--json');
    expect(w.code).toBe(WAIT_EXIT.notApproved);
    expect(JSON.parse(w.out)).toMatchObject({ id: cancelled, status: 'cancelled' });
  });

  it('overrides only with an admin key, one decision and a reason', async () => {
    const id = await reviewedRefund();
    const none = await cli(ts.admin, 'approvals', 'override', id, '--reason', 'x');
    expect(none.code).toBe(2);
    expect(none.err).toContain('[USAGE]');
    const noReason = await cli(ts.admin, 'approvals', 'override', id, '--approve');
    expect(noReason.code).toBe(2);
    const notAdmin = await cli(lina, 'approvals', 'override', id, '--approve', '--reason', 'urgent');
    expect(notAdmin.err).toContain('[FORBIDDEN]');
    const r = await cli(ts.admin, 'approvals', 'override', id, '--deny', '--reason', 'fraud suspected');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`^Overrode ${id}: denied by .+ \\(override\\): fraud suspected\\.\\n$`));
    expect(await status(id)).toBe('denied');
  });

  it('says how to fix an unknown id, a bad --limit and a bad --timeout', async () => {
    const unknown = await cli(lina, 'approvals', 'show', 'apr_nope');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('[APPROVAL_NOT_FOUND]');
    expect((await cli(lina, 'approvals', 'list', '--limit', 'many')).err).toContain('[USAGE]');
    expect((await cli(lina, 'approvals', 'wait', 'apr_nope', '--timeout', 'soon')).err).toContain('[USAGE]');
    expect((await cli(lina, 'approvals', 'list', '--status', 'maybe')).code).toBe(2);
  });
});

describe('warden grants', () => {
  const call = (tool: string) =>
    ts.request('POST', '/v1/calls', { key: agent, body: { tool, args: { month: '2025-01' } } });

  it('adds, lists and revokes a grant; the tool the default blocks is allowed only while it holds', async () => {
    const before = (await call('reports.export')).json() as { effect: string; ruleId: string | null };
    expect(before).toMatchObject({ effect: 'block', ruleId: null });

    const add = await cli(
      lina,
      'grants',
      'add',
      '--agent',
      'support-bot',
      '--tool',
      'reports.export',
      '--ttl',
      '1h',
      '--reason',
      'monthly refund report',
    );
    expect(add.code, add.err).toBe(0);
    const id = /Granted (grt_\S+):/.exec(add.out)?.[1] as string;
    expect(id).toBeDefined();
    expect(add.out).toContain('support-bot may call reports.export until ');
    expect(add.out).toContain('only lifts the default block');

    const allowed = (await call('reports.export')).json() as { effect: string; grantId?: string };
    expect(allowed).toMatchObject({ effect: 'allow', grantId: id });

    const list = await cli(lina, 'grants', 'list', '--agent', 'support-bot');
    expect(list.code, list.err).toBe(0);
    expect(list.out).toMatch(
      new RegExp(`${id}\\s+support-bot\\s+reports\\.export\\s+\\(any\\)\\s+\\S+\\s+active\\s+${LINA}`),
    );
    expect(list.out).toContain('monthly refund report');

    const revoke = await cli(lina, 'grants', 'revoke', id, '--reason', 'report done');
    expect(revoke.code, revoke.err).toBe(0);
    expect(revoke.out).toContain(`Revoked ${id}`);
    expect((await call('reports.export')).json()).toMatchObject({ effect: 'block', ruleId: null });

    const active = await cli(lina, 'grants', 'list');
    expect(active.out).not.toContain(id);
    const all = await cli(lina, 'grants', 'list', '--all', '--json');
    const { grants } = JSON.parse(all.out) as {
      grants: { id: string; active: boolean; revokedBy: string }[];
    };
    expect(grants.find((g) => g.id === id)).toMatchObject({ active: false, revokedBy: LINA });
    expect((await cli(lina, 'grants', 'list', '--all')).out).toMatch(new RegExp(`${id}.*revoked`));
  });

  it('a grant with --when applies only to the calls its condition admits, in its session', async () => {
    const session = 'ses-report-42';
    const inSession = (month: string, s = session) =>
      ts.request('POST', '/v1/calls', {
        key: agent,
        body: { tool: 'reports.summary', args: { month }, session: s },
      });
    const add = await cli(
      lina,
      'grants',
      'add',
      '--agent',
      'support-bot',
      '--tool',
      'reports.summary',
      '--session',
      session,
      '--when',
      "args.month == '2025-01'",
      '--reason',
      'January close',
      '--json',
    );
    expect(add.code, add.err).toBe(0);
    const grant = JSON.parse(add.out) as { id: string; session: string; when: string; active: boolean };
    expect(grant).toMatchObject({ session, when: "args.month == '2025-01'", active: true });
    expect((await inSession('2025-01')).json()).toMatchObject({ effect: 'allow', grantId: grant.id });
    expect((await inSession('2024-12')).json()).toMatchObject({ effect: 'block', ruleId: null });
    expect((await inSession('2025-01', 'ses-other')).json()).toMatchObject({ effect: 'block' });
    const list = await cli(lina, 'grants', 'list');
    expect(list.out).toContain(`reports.summary when args.month == '2025-01'`);
    expect((await cli(lina, 'grants', 'revoke', grant.id)).code).toBe(0);
  });

  it('refuses a grant without a reason or a lifetime, and an unknown grant id', async () => {
    const noReason = await cli(
      lina,
      'grants',
      'add',
      '--agent',
      'support-bot',
      '--tool',
      'x.y',
      '--ttl',
      '1h',
    );
    expect(noReason.code).toBe(2);
    const noTtl = await cli(
      lina,
      'grants',
      'add',
      '--agent',
      'support-bot',
      '--tool',
      'x.y',
      '--reason',
      'r',
    );
    expect(noTtl.code).toBe(2);
    expect(noTtl.err).toContain('[GRANT_INVALID]');
    const unknown = await cli(lina, 'grants', 'revoke', 'grt_nope');
    expect(unknown.err).toContain('[GRANT_NOT_FOUND]');
  });
});

describe('reaching the server', () => {
  it('reads WARDEN_URL and WARDEN_KEY from the environment', async () => {
    vi.stubEnv('WARDEN_URL', ts.server.url);
    vi.stubEnv('WARDEN_KEY', lina);
    try {
      const r = await run(['grants', 'list', '--all'], ts.dir);
      expect(r.code, r.err).toBe(0);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('without a key, says which key to set', async () => {
    vi.stubEnv('WARDEN_KEY', undefined);
    try {
      const r = await run(['approvals', 'list', '--url', ts.server.url], ts.dir);
      expect(r.code).toBe(2);
      expect(r.err).toContain('set --key or WARDEN_KEY');
      expect(r.err).toContain('[USAGE]');
      expect(r.err).not.toMatch(STACK);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('with an unknown key, says so without printing it', async () => {
    const bogus = `wdn_${'A'.repeat(43)}`;
    const r = await cli(bogus, 'approvals', 'list');
    expect(r.code).toBe(2);
    expect(r.err).toContain('[UNAUTHENTICATED]');
    expect(r.err).toContain('WARDEN_KEY');
    expect(r.out + r.err).not.toContain(bogus);
  });

  it('with no server at --url, says how to fix it, without a stack trace', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const r = await run(['approvals', 'list', '--url', url, '--key', lina], ts.dir);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`cannot reach a Warden server at ${url}`);
    expect(r.err).toContain('is `warden serve` running there? Set --url or WARDEN_URL');
    expect(r.err).not.toMatch(STACK);
    expect(r.err).not.toContain(lina);
    const bad = await run(['grants', 'list', '--url', 'localhost:7400', '--key', lina], ts.dir);
    expect(bad.err).toContain('must start with http:// or https://');
  });
});

/** A port nothing listens on: one the OS just handed out and we closed again. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
