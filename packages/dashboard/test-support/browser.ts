/**
 * A real headless Chromium for the dashboard's tests: Debian's `chromium` package driven by
 * playwright-core. When it is missing and the tests run as root on Debian, it is installed with apt-get
 * (as the PostgreSQL setup does); otherwise the test fails saying how to install it. Never skipped.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';

const execFileAsync = promisify(execFile);

/** The flags the machine's Chromium needs to run headless in a container, without phoning home. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** Where the tests write a screenshot of each page (ignored by git). */
export const SCREENSHOT_DIR = join(import.meta.dirname, '../../../test-output/screenshots');

let installing: Promise<string> | undefined;

async function chromiumPath(): Promise<string> {
  const configured = process.env.WARDEN_CHROMIUM;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`WARDEN_CHROMIUM=${configured} does not exist`);
    return configured;
  }
  const found = CANDIDATES.find((p) => existsSync(p));
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new Error(
      'Chromium is missing: install it with `sudo apt-get install -y chromium` (or set WARDEN_CHROMIUM to a Chromium binary)',
    );
  }
  installing ??= (async () => {
    process.stderr.write('warden tests: Chromium is missing, installing it with apt-get …\n');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const apt = (...args: string[]) =>
      execFileAsync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], { env, maxBuffer: 64 << 20 });
    await apt('update');
    await apt('install', '-y', '--no-install-recommends', 'chromium');
    const installed = CANDIDATES.find((p) => existsSync(p));
    if (!installed) throw new Error('apt-get install chromium finished but no chromium binary was found');
    return installed;
  })();
  return installing;
}

/** Launches headless Chromium. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: await chromiumPath(), args: CHROMIUM_ARGS, timeout: 60_000 });
}

/** Saves a full-page screenshot as test-output/screenshots/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
