/**
 * `warden demo` as a real process, as `npm run demo` runs it: unattended with --exit (exit code, the
 * story, the trail, `warden audit verify`), and serving until Ctrl-C. Needs the built CLI (`npm run build`).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, childEnv, killAll, spawnCollect, warden } from '../../server/test-support/serve-process.js';
import { expectDemoOutput, expectDemoTrail } from './demo-expectations.js';

const STACK = /\n\s+at .*:\d+:\d+/;
let root: string;

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  root = mkdtempSync(join(tmpdir(), 'warden-demo-bin-'));
});

afterAll(() => {
  killAll();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('the warden demo process', () => {
  it('--auto-approve --exit: tells the story, exits 0, and leaves a trail `warden audit verify` accepts', async () => {
    const dir = join(root, 'unattended');
    const r = await warden(['demo', '--auto-approve', '--exit', '--port', '0', '--dir', dir]);
    expect(r.err).not.toMatch(STACK);
    expect(r.code, r.err).toBe(0);
    expectDemoOutput(r.out);
    await expectDemoTrail(join(dir, 'warden.db'));
    const verify = await warden(['audit', 'verify', '--db', join(dir, 'warden.db')]);
    expect(verify.code, verify.out + verify.err).toBe(0);
    expect(verify.out).toMatch(/ok|intact|verified/i);
  }, 60_000);

  it('serves after the story until Ctrl-C, then stops gracefully', async () => {
    const dir = join(root, 'serving');
    const demo = spawnCollect([BIN, 'demo', '--auto-approve', '--port', '0', '--dir', dir], {
      env: childEnv(),
    });
    const deadline = Date.now() + 45_000;
    while (!demo.out().includes('Ctrl-C stops it')) {
      if (Date.now() > deadline || demo.child.exitCode !== null) {
        throw new Error(`no closing guide\nstdout:\n${demo.out()}\nstderr:\n${demo.err()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = /dashboard {2}(http:\/\/\S+)/.exec(demo.out())?.[1];
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    demo.child.kill('SIGINT');
    const ended = await demo.exited;
    expect(ended.code, ended.err).toBe(0);
    expect(ended.err).toMatch(
      /SIGINT: stopping the demo…\nwarden: stopped; the audit trail is flushed and checkpointed/,
    );
    await expectDemoTrail(join(dir, 'warden.db'));
  }, 60_000);
});
