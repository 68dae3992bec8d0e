/**
 * The dashboard's SSO sign-in end to end: real headless Chromium, a real `warden serve` process configured
 * with `auth.oidc`, and the real OpenID provider (`oidc-provider`, on loopback) with its own login and
 * consent pages. A person signs in through the provider, lands on the approvals page as themself ("via
 * SSO"), approves a held call and the waiting agent (the real SDK) proceeds; removed from the IdP group the
 * rule needs, they sign out and in again and approving is refused in the page. Screenshots go to
 * test-output/screenshots. Needs the built CLI.
 */
import { createWarden, type Warden } from '@warden/sdk';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SsoServer, startSsoServer } from '../../cli/test/sso-server.js';
import { killAll } from '../../server/test-support/serve-process.js';
import { launchBrowser, screenshot } from '../test-support/browser.js';

/** Waits for what a page shows: generous, because a loaded 2-core CI machine draws slowly (never a speed claim). */
const poll = <T>(probe: () => T | Promise<T>) => expect.poll(probe, { timeout: 15_000 });

let sso: SsoServer;
let browser: Browser;
let agent: Warden;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  sso = await startSsoServer();
  agent = await createWarden({ url: sso.url, key: await sso.agentKey() });
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
}, 120_000);

afterAll(async () => {
  await context?.close().catch(() => undefined);
  await browser?.close();
  await agent?.close();
  killAll();
  await sso?.close();
});

/**
 * From the dashboard's sign-in page (in `on`, default the test's page) through the provider's own pages:
 * its login form (the development login takes the account id and any password) and its consent page, when
 * it asks for them, until the browser is back at Warden. Returns how many provider pages it went through.
 */
async function throughProvider(login: string, o: { on?: Page; shot?: string } = {}): Promise<number> {
  const p = o.on ?? page;
  let pages = 0;
  // The provider shows its pages, or (still signed in there) sends the browser straight back.
  await Promise.all([
    p.waitForEvent('framenavigated'),
    p.getByRole('link', { name: 'Sign in with SSO' }).click(),
  ]);
  await p.waitForLoadState();
  for (let step = 0; step < 6 && new URL(p.url()).origin === sso.provider.issuer; step++) {
    const loginField = p.locator('input[name="login"]');
    if (await loginField.isVisible().catch(() => false)) {
      if (o.shot) await screenshot(p, `${o.shot}-provider-login`);
      await loginField.fill(login);
      await p.locator('input[name="password"]').fill('any password');
    } else if (o.shot) {
      await screenshot(p, `${o.shot}-provider-consent`);
    }
    pages++;
    // Each submit answers with a redirect to the next page (consent, then back to Warden).
    const before = p.url();
    await p.locator('[type="submit"]').first().click();
    await p.waitForURL((u) => u.toString() !== before);
  }
  await p.waitForURL((u) => u.origin === sso.url);
  return pages;
}

/** Signs the test's page in through SSO and waits for the dashboard. */
async function signInWithSso(login: string, shot?: string): Promise<number> {
  const pages = await throughProvider(login, shot ? { shot } : {});
  await page.locator('nav.top').waitFor();
  return pages;
}

describe('the dashboard signing people in through SSO (Chromium, real OpenID provider)', {
  timeout: 90_000,
}, () => {
  it('offers SSO and the key form, signs in through the provider and shows the person via SSO', async () => {
    await page.goto(`${sso.url}/approvals`);
    const link = page.getByRole('link', { name: 'Sign in with SSO' });
    await link.waitFor();
    expect(await link.getAttribute('href')).toBe('/v1/auth/oidc/login?returnTo=%2Fapprovals');
    await page.getByLabel('API key').waitFor(); // keySignIn: true keeps the key form
    await screenshot(page, 'sso-signin');

    // The provider's own pages: its login form, then its consent page.
    expect(await signInWithSso('lee', 'sso-signin')).toBeGreaterThanOrEqual(2);
    expect(new URL(page.url()).pathname).toBe('/approvals');
    await poll(() => page.locator('nav.top .who').textContent()).toMatch(
      /lee@acme\.example.*approver.*via SSO/,
    );
    // The live stream accepts the person's session too.
    await poll(() => page.locator('.live').textContent()).toBe('● live');
    const session = (await context.cookies()).find((c) => c.name === 'warden_session');
    expect(session).toMatchObject({ httpOnly: true });
  });

  it('approves a held call as the person and the waiting agent proceeds', async () => {
    let ran = 0;
    const write = agent.guard('db.write', async (req: { sql: string }) => {
      ran++;
      return { wrote: req.sql };
    });
    const waiting = write({ sql: 'update orders set state = 2' });
    const card = page.locator('article.approval', { hasText: 'db.write' });
    await card.waitFor({ timeout: 15_000 });
    expect(await card.textContent()).toContain('Writes to the database need a DBA.');
    await screenshot(page, 'sso-approvals-pending');
    await card.getByLabel('Reason').fill('checked the statement');
    await card.getByRole('button', { name: 'Approve' }).click();
    await expect(waiting).resolves.toEqual({ wrote: 'update orders set state = 2' });
    expect(ran).toBe(1);
    await card.waitFor({ state: 'detached' });
    await poll(() => page.getByTestId('decided').textContent()).toMatch(/approved.*lee@acme\.example/);
  });

  it('removed from the IdP group, after signing out and in again the person cannot approve', async () => {
    sso.provider.setGroups('lee', ['staff']);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('link', { name: 'Sign in with SSO' }).waitFor();
    await signInWithSso('lee');
    await poll(() => page.locator('nav.top .who').textContent()).toMatch(/via SSO/);

    const abort = new AbortController();
    const write = agent.guard('db.write', async (_req: { sql: string }) => 'ran', {
      signal: abort.signal,
      approvalTimeoutMs: 60_000,
    });
    const waiting = write({ sql: 'delete from orders' }).catch((err: Error) => err);
    const card = page.locator('article.approval', { hasText: 'delete from orders' });
    await card.waitFor({ timeout: 15_000 });
    await card.getByRole('button', { name: 'Approve' }).click();
    await poll(() => card.locator('.refusal').textContent()).toMatch(/not among them|dba/);
    await screenshot(page, 'sso-approve-refused');
    abort.abort();
    expect(await waiting).toBeInstanceOf(Error);
  });

  it('left with no Warden role by the IdP, the next sign-in is refused in words and the open page signs out', async () => {
    // Lee's groups now map to no role; lee signs in from another browser, which Warden refuses …
    sso.provider.setGroups('lee', ['marketing']);
    const other = await browser.newContext();
    try {
      const second = await other.newPage();
      await second.goto(`${sso.url}/approvals`);
      await throughProvider('lee', { on: second });
      expect(new URL(second.url()).pathname).toBe('/signin');
      await poll(() => second.getByRole('alert').textContent()).toMatch(
        /^Signing in with SSO failed: lee@acme\.example signed in at the identity provider, but none of their groups \(marketing\) gives a Warden role/,
      );
      await screenshot(second, 'sso-signin-no-role');
    } finally {
      await other.close();
    }
    // … and the page lee still has open loses access at its next request: back to the sign-in page, saying why.
    await page.getByRole('link', { name: 'Sessions' }).click();
    await poll(() => page.getByRole('alert').first().textContent()).toMatch(
      /You are signed out: lee@acme\.example has no Warden role/,
    );
    await page.getByRole('link', { name: 'Sign in with SSO' }).waitFor();
    sso.provider.setGroups('lee', ['staff', 'dba']);
  });

  it('a sign-in cancelled at the provider comes back to the sign-in page, in words', async () => {
    // A fresh browser: the provider shows its login page, where the person cancels.
    const fresh = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const other = await fresh.newPage();
      await other.goto(`${sso.url}/approvals`);
      await other.getByRole('link', { name: 'Sign in with SSO' }).click();
      await other.locator('input[name="login"]').waitFor();
      await other.getByRole('link', { name: /cancel/i }).click();
      await other.waitForURL((u) => u.origin === sso.url && u.pathname === '/signin');
      await poll(() => other.getByRole('alert').textContent()).toBe(
        'Signing in with SSO failed: the identity provider ended the sign-in: access_denied (End-User aborted interaction)',
      );
      await other.getByRole('link', { name: 'Sign in with SSO' }).waitFor(); // and may try again
      await screenshot(other, 'sso-signin-cancelled');
    } finally {
      await fresh.close();
    }
  });

  it('with keySignIn false offers only SSO: no key form', async () => {
    const ssoOnly = await startSsoServer({ keySignIn: false });
    const fresh = await browser.newContext();
    try {
      const other = await fresh.newPage();
      await other.goto(`${ssoOnly.url}/`);
      await other.getByRole('link', { name: 'Sign in with SSO' }).waitFor();
      expect(await other.getByLabel('API key').count()).toBe(0);
      await screenshot(other, 'sso-only-signin');
    } finally {
      await fresh.close();
      await ssoOnly.close();
    }
  });
});
