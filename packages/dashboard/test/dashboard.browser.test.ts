/**
 * The dashboard end to end, in real headless Chromium against a real server on a socket: sign in,
 * approve a pending call and watch the waiting agent (the real SDK) proceed, the separation-of-duties
 * refusal in words, resume a paused session, filter the audit trail, the auditor's read-only view,
 * budgets and policy replay. Each page is screenshotted into test-output/screenshots.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createWarden, type Warden } from '@warden/sdk';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../server/test-support/eventually.js';
import { startTestServer, type TestServer } from '../../server/test-support/server-fixtures.js';
import { launchBrowser, screenshot } from '../test-support/browser.js';

/** Waits for what a page shows: generous, because a loaded 2-core CI machine draws slowly (never a speed claim). */
const poll = <T>(probe: () => T | Promise<T>) => expect.poll(probe, { timeout: 15_000 });

const DEMO_POLICY = fileURLToPath(new URL('../../cli/demo/policy.yaml', import.meta.url));

/**
 * The demo's policy as this test's agent uses it: claiming who triggered its calls (the shipped demo
 * policy believes that only from a task token; docs/tasks.md).
 */
function claimsAllowedDemoPolicy(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'warden-dashboard-policy-')), 'policy.yaml');
  writeFileSync(
    file,
    readFileSync(DEMO_POLICY, 'utf8').replace('requireTaskToken: true', 'requireTaskToken: false'),
  );
  return file;
}

let t: TestServer;
let base: string;
let browser: Browser;
let agentKey: string;
let approverKey: string;
let auditorKey: string;
let agent: Warden;
const ctxs: BrowserContext[] = [];

beforeAll(async () => {
  // The demo's policy: a review rule for refunds over $50, a session budget of 8 calls, a repeat breaker.
  t = await startTestServer('sqlite', { policy: claimsAllowedDemoPolicy() }, { listen: true });
  base = t.server.url;
  agentKey = await t.key('agent', 'demo-agent', 'agent');
  approverKey = await t.key('human', 'lee@acme.example', 'approver');
  auditorKey = await t.key('human', 'ava@acme.example', 'auditor');
  agent = await createWarden({ url: base, key: agentKey, context: { triggeredBy: 'sam@acme.example' } });
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  for (const c of ctxs) await c.close().catch(() => undefined);
  await browser?.close();
  await agent?.close();
  await t?.close();
});

/** A fresh browser (its own cookies) signed in with `key` through the sign-in page. */
async function signedIn(key: string, shot?: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  ctxs.push(context);
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.getByLabel('API key').waitFor();
  if (shot) await screenshot(page, shot);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('nav.top').waitFor();
  return page;
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await t.request(method as 'GET', path, { key: t.admin, ...(body ? { body } : {}) });
  if (r.statusCode >= 300) throw new Error(`${method} ${path}: ${r.statusCode} ${r.body}`);
  return r.json() as T;
}

describe('the dashboard in Chromium', () => {
  let approver: Page;

  it('refuses a wrong key on the sign-in page, then signs a person in with an HttpOnly cookie', async () => {
    const context = await browser.newContext();
    ctxs.push(context);
    const page = await context.newPage();
    await page.goto(`${base}/approvals`);
    await page.getByLabel('API key').fill(agentKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await poll(() => page.getByRole('alert').textContent()).toMatch(/dashboard is for people/);

    approver = await signedIn(approverKey, 'signin');
    await poll(() => approver.locator('nav.top .who').textContent()).toMatch(/lee@acme\.example.*approver/);
    const cookies = await approver.context().cookies();
    const session = cookies.find((c) => c.name === 'warden_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    // Page scripts cannot read the session: it is not in document.cookie.
    expect(await approver.evaluate('document.cookie')).not.toContain('warden_session');
  });

  it('shows a pending call live and approving it lets the waiting agent proceed', async () => {
    let ran = 0;
    let approvalId = '';
    const refund = agent.guard(
      'billing.refund',
      async (req: { amount: number; order: string }) => {
        ran++;
        return { refunded: req.amount };
      },
      { onApprovalPending: (p) => (approvalId = p.approvalId) },
    );
    const waiting = refund({ amount: 120, order: 'ord_981', card: '4111 1111 1111 1111' } as never);

    const card = approver.locator('article.approval', { hasText: 'billing.refund' });
    await card.waitFor({ timeout: 15_000 });
    const text = (await card.textContent()) ?? '';
    expect(text).toContain('demo-agent');
    expect(text).toContain('demo-refund-review'); // the rule, and why
    expect(text).toContain('Refunds over $50 need a person');
    expect(text).toContain('sam@acme.example'); // who started the task
    expect(text).toMatch(/left/); // time left
    expect(text).toMatch(/0 of 1 approval/); // quorum progress
    expect(text).not.toContain('4111 1111 1111 1111'); // arguments are shown redacted
    expect(await approver.locator('nav.top .badge').textContent()).toBe('1');
    await screenshot(approver, 'approvals-pending');

    await card.getByLabel('Reason').fill('order checked, customer verified');
    await card.getByRole('button', { name: 'Approve' }).click();
    await expect(waiting).resolves.toEqual({ refunded: 120 });
    expect(ran).toBe(1);
    await card.waitFor({ state: 'detached' });
    await poll(() => approver.getByTestId('decided').textContent()).toMatch(
      /approved · used.*demo-agent.*billing\.refund.*lee@acme\.example.*order checked/,
    );
    await screenshot(approver, 'approvals-decided');

    // A notification's link to this request, opened after someone decided it, says so.
    await approver.goto(`${base}/approvals/${approvalId}`);
    await poll(() => approver.getByTestId('focused-decided').textContent()).toMatch(
      /already decided: approved · used by lee@acme\.example \(order checked, customer verified\)/,
    );

    const decided = await api<{ records: { event: { data: { outcome: string } }; seq: number }[] }>(
      'GET',
      '/v1/audit/events?type=approval.decided&approver=lee@acme.example',
    );
    expect(decided.records.map((r) => r.event.data.outcome)).toEqual(['approved']);
    // The vote is lee's and is recorded as coming through the dashboard.
    const request = await api<{ votes: { principal: string; via?: string }[] }>(
      'GET',
      `/v1/approvals/${approvalId}`,
    );
    expect(request.votes).toEqual([
      expect.objectContaining({ principal: 'lee@acme.example', via: 'dashboard' }),
    ]);
  });

  it('explains a separation-of-duties refusal in plain words', async () => {
    const own = await createWarden({
      url: base,
      key: agentKey,
      context: { triggeredBy: 'lee@acme.example' },
    });
    const abort = new AbortController();
    const waiting = own
      .guard('billing.refund', async (_req: { amount: number }) => 'ran', {
        signal: abort.signal,
        approvalTimeoutMs: 60_000,
      })({
        amount: 150,
      })
      .catch((err: Error) => err);
    const card = approver.locator('article.approval', { hasText: '"amount": 150' });
    await card.waitFor({ timeout: 15_000 });
    expect(await card.textContent()).toMatch(/You started this task/);
    await card.getByRole('button', { name: 'Approve' }).click();
    const refusal = card.locator('.refusal');
    await refusal.waitFor();
    expect(await refusal.textContent()).toMatch(/Separation of duties: whoever asked for this/);
    await screenshot(approver, 'approvals-separation-of-duties');
    abort.abort();
    expect(await waiting).toBeInstanceOf(Error);
    await own.close();
    const refused = await api<{ records: unknown[] }>('GET', '/v1/audit/events?type=approval.refused');
    expect(refused.records.length).toBeGreaterThan(0);
  });

  it('lets an admin who is not an eligible approver override, with a reason, and the agent proceeds', async () => {
    const adminKey = await t.key('human', 'ada@acme.example', 'admin');
    const ada = await signedIn(adminKey);
    let approvalId = '';
    const refund = agent.guard(
      'billing.refund',
      async (req: { amount: number }) => ({ refunded: req.amount }),
      {
        onApprovalPending: (p) => (approvalId = p.approvalId),
      },
    );
    const waiting = refund({ amount: 130 });
    const card = ada.locator('article.approval', { hasText: '"amount": 130' });
    await card.waitFor({ timeout: 15_000 });
    await card.getByRole('button', { name: 'Approve' }).click();
    await poll(() => card.locator('.refusal').textContent()).toMatch(/not among them/);
    await card.getByRole('button', { name: 'Override: approve' }).click();
    await poll(() => card.locator('.refusal').textContent()).toMatch(/needs a reason/);
    await card.getByLabel('Reason').fill('on-call lead is out; customer escalation');
    await card.getByRole('button', { name: 'Override: approve' }).click();
    await expect(waiting).resolves.toEqual({ refunded: 130 });
    const decided = await api<{ records: { event: { data: { override?: boolean; outcome: string } } }[] }>(
      'GET',
      '/v1/audit/events?type=approval.decided&approver=ada@acme.example',
    );
    expect(decided.records.map((r) => r.event.data)).toEqual([
      expect.objectContaining({ outcome: 'approved', override: true }),
    ]);
    expect(approvalId).toMatch(/^apr_/);
  });

  it('resumes a session its budget paused, raising the budget, from the sessions page', async () => {
    const session = `ses-budget-${Date.now()}`;
    const worker = await createWarden({
      url: base,
      key: agentKey,
      context: { session, triggeredBy: 'sam@acme.example' },
    });
    const read = worker.guard('tickets.read', async (_req: { ticket: number }) => 'ticket');
    // Eight calls fit the session budget (distinct tickets: the repeat breaker stays quiet); the ninth does not.
    for (let i = 1; i <= 8; i++) await read({ ticket: i });
    await expect(read({ ticket: 9 })).rejects.toThrow(/budget/i);
    await approver.getByRole('link', { name: 'Sessions' }).click();
    const card = approver.locator(`article.session[data-session="${session}"]`);
    await card.waitFor();
    expect(await card.locator('.pause-reason').textContent()).toMatch(/demo-session-calls/);
    expect(await card.locator('[data-budget="demo-session-calls"]').textContent()).toMatch(/8 \/ 8/);
    await screenshot(approver, 'sessions');

    await card.getByRole('button', { name: 'Resume' }).click();
    await poll(() => card.locator('.refusal').textContent()).toMatch(/Say why/);
    await card.getByLabel('Reason').fill('ticket backlog is real, more calls are fine');
    await card.locator('label.raise input').fill('20');
    await card.getByRole('button', { name: 'Resume' }).click();
    await eventually('the session is active again', async () => {
      const s = await api<{ session: { state: string } }>('GET', `/v1/sessions/${session}`);
      return s.session.state === 'active' ? true : undefined;
    });
    await expect(read({ ticket: 10 })).resolves.toBe('ticket');
    const raised = await api<{ records: { event: { data: { limit?: number } } }[] }>(
      'GET',
      `/v1/audit/events?type=budget.raised&session=${session}`,
    );
    expect(raised.records).toHaveLength(1);
    await worker.close();

    await approver.goto(`${base}/sessions/${session}`);
    const timeline = approver.getByTestId('timeline');
    await timeline.waitFor();
    await poll(() => timeline.textContent()).toMatch(/session\.resumed/);
    expect(await timeline.textContent()).toMatch(/session\.paused/);
    expect(await timeline.textContent()).toMatch(/budget\.exceeded/);
    // Each call of the timeline names who it was for and how that was verified: a claim here.
    expect(await timeline.locator('[data-role="initiator"]').first().textContent()).toBe(
      'sam@acme.example claimed, unverified',
    );
    await screenshot(approver, 'session-detail');
  });

  it('filters the audit trail, opens an event, and shows the auditor the verified chain read-only', async () => {
    const drop = agent.guard('db.drop_table', async (_req: { table: string }) => 'never');
    await expect(drop({ table: 'users' })).rejects.toThrow(/blocked|not allowed|deny/i);
    await api('POST', '/v1/audit/checkpoints');
    const auditor = await signedIn(auditorKey);
    // An auditor sees requests but cannot decide them.
    await auditor.goto(`${base}/approvals`);
    await poll(() => auditor.locator('main').textContent()).toMatch(/can see requests but not decide/);
    expect(await auditor.getByRole('button', { name: 'Approve' }).count()).toBe(0);

    await auditor.getByRole('link', { name: 'Audit' }).click();
    await poll(() => auditor.getByTestId('chain-status').textContent()).toMatch(/chain verified/);
    // The latest checkpoint is read after the verification: the status line gains it a moment later.
    await poll(() => auditor.getByTestId('chain-status').textContent()).toMatch(
      /latest signed checkpoint: seq \d+/,
    );
    await auditor.getByLabel('Tool').fill('billing.refund');
    await auditor.getByLabel('Decision').selectOption('review');
    await auditor.getByRole('button', { name: 'Filter' }).click();
    await poll(() => new URL(auditor.url()).search).toContain('tool=billing.refund');
    const rows = auditor.getByTestId('audit-results').locator('tr.event');
    await poll(() => rows.count()).toBeGreaterThan(0);
    const expected = await api<{ records: { seq: number }[] }>(
      'GET',
      '/v1/audit/events?tool=billing.refund&decision=review&limit=1000',
    );
    const seqs = await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-seq'))));
    expect(seqs).toEqual(expected.records.map((r) => r.seq).reverse());
    for (const cell of await rows.locator('td:nth-child(3)').allTextContents())
      expect(cell).toBe('call.decided');
    // Who acted, with the kind of principal: an id alone does not tell Warden from a key named like it.
    for (const cell of await rows.locator('td:nth-child(4)').allTextContents())
      expect(cell).toBe('demo-agent (agent)');
    // The calls were for sam, a name the agent wrote in its context: nothing verified it, and the row says so.
    const parties = rows.first().getByTestId('call-parties');
    expect(await parties.textContent()).toBe('sam@acme.example claimed, unverified');
    expect(await parties.locator('[data-proof="claimed"]').getAttribute('class')).toBe('proof claimed');
    await rows.first().click();
    await poll(() => auditor.locator('tr.detail pre').textContent()).toMatch(/"effect": "review"/);
    await screenshot(auditor, 'audit');
    // The export button downloads a verified CSV with the sign-in cookie; it holds the filtered-for call.
    const [download] = await Promise.all([
      auditor.waitForEvent('download'),
      auditor.getByRole('link', { name: 'CSV' }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^warden-audit-.*\.csv$/);
    const csv = readFileSync((await download.path()) as string, 'utf8');
    expect(csv.split('\n')[0]).toMatch(/seq/);
    expect(csv).toContain('billing.refund');
  });

  it('charts usage and shows budgets', async () => {
    await approver.getByRole('link', { name: 'Budgets' }).click();
    await approver.locator('figure.chart svg').waitFor();
    const totals = await approver.getByTestId('usage-totals').textContent();
    expect(totals).toMatch(/demo-agent/);
    // The budget breach of the session above is among the alerts.
    await poll(() => approver.getByTestId('alerts').textContent()).toMatch(/budget\.exceeded/);
    await screenshot(approver, 'budgets');
  });

  it('shows the policy, its lint, and replays a candidate that blocks refunds', async () => {
    await approver.getByRole('link', { name: 'Policy' }).click();
    await poll(() => approver.getByTestId('policy-version').textContent()).toMatch(/version/);
    const editor = approver.locator('textarea[name="policy"]');
    await editor.waitFor();
    await screenshot(approver, 'policy');
    const text = await editor.inputValue();
    expect(text).toContain('billing.refund');
    // Replay a minimal policy that denies everything: every allowed or reviewed call would change.
    await editor.fill('warden: 1\nname: lockdown\nagents: {}\n');
    await approver.getByRole('button', { name: 'Replay' }).click();
    const result = approver.getByTestId('replay-result');
    await result.waitFor();
    const report = await api<{ totals: { changed: number } }>('POST', '/v1/policy/replay', {
      policy: { text: 'warden: 1\nname: lockdown\nagents: {}\n' },
      since: '7d',
    });
    expect(report.totals.changed).toBeGreaterThan(0);
    expect(await result.textContent()).toContain(`${report.totals.changed} of`);
    await screenshot(approver, 'policy-replay');
  });

  it('fits a phone screen (a notification link opened on the go): no page scrolls sideways', async () => {
    const context = await browser.newContext({ viewport: { width: 420, height: 860 } });
    ctxs.push(context);
    const phone = await context.newPage();
    await phone.goto(`${base}/approvals`);
    await phone.getByLabel('API key').fill(approverKey);
    await phone.getByRole('button', { name: 'Sign in' }).click();
    await phone.locator('nav.top').waitFor();
    for (const path of ['/approvals', '/sessions', '/audit', '/budgets', '/policy']) {
      await phone.goto(`${base}${path}`);
      await phone.locator('main.page h1').waitFor();
      await phone.waitForLoadState('networkidle').catch(() => undefined);
      const overflow = (await phone.evaluate(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      )) as number;
      expect(overflow, path).toBeLessThanOrEqual(1);
    }
    await phone.goto(`${base}/approvals`);
    await phone.locator('main.page h1').waitFor();
    await screenshot(phone, 'phone-approvals');
  });

  it('signs out', async () => {
    await approver.getByRole('button', { name: 'Sign out' }).click();
    await approver.getByLabel('API key').waitFor();
    await approver.goto(`${base}/sessions`);
    await approver.getByLabel('API key').waitFor();
  });
});
