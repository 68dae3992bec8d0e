import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hookStateDir } from './hook-config.js';
import { HookState, pruneHookState } from './hook-state.js';

const dirs: string[] = [];
function root(): string {
  const d = mkdtempSync(join(tmpdir(), 'warden-hook-state-'));
  dirs.push(d);
  return join(d, 'warden', 'hooks');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const calls = { callIds: ['c1'], tools: ['shell.exec'], decidedAt: '2026-12-07T00:00:00Z' };

describe('hook state', () => {
  it('lives under $XDG_STATE_HOME/warden/hooks, else ~/.local/state/warden/hooks (a relative XDG path is ignored)', () => {
    expect(hookStateDir({ XDG_STATE_HOME: '/x/state', HOME: '/home/a' })).toBe('/x/state/warden/hooks');
    expect(hookStateDir({ XDG_STATE_HOME: 'rel', HOME: '/home/a' })).toBe(
      '/home/a/.local/state/warden/hooks',
    );
    expect(hookStateDir({ HOME: '/home/a' })).toBe('/home/a/.local/state/warden/hooks');
  });

  it('keeps one 0600 file per entry in 0700 folders, and no temporary file behind', () => {
    const r = root();
    const s = new HookState(r, 'claude-code', 'sess/../1');
    s.saveCalls('id:toolu_1', calls);
    s.savePending('k', { approvalId: 'apr_1', session: 's', tool: 't', openedAt: 'now' });
    const [session] = readdirSync(join(r, 'claude-code'));
    const folder = join(r, 'claude-code', session as string);
    expect(statSync(r).mode & 0o777).toBe(0o700);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    const files = readdirSync(folder);
    expect(files).toHaveLength(2);
    for (const f of files) {
      expect(f).toMatch(/^(call|approval)-[0-9a-f]{64}\.json$/);
      expect(statSync(join(folder, f)).mode & 0o777).toBe(0o600);
    }
    expect(s.pending('k')?.approvalId).toBe('apr_1');
    s.dropPending('k');
    expect(s.pending('k')).toBeUndefined();
  });

  it('hands a recorded call to exactly one taker, also across processes', async () => {
    const r = root();
    new HookState(r, 'claude-code', 's').saveCalls('id:t', calls);
    // Eight processes race to take the same entry: one gets it.
    const script = `import { HookState } from ${JSON.stringify(new URL('./hook-state.ts', import.meta.url).pathname)};
      const got = new HookState(${JSON.stringify(r)}, 'claude-code', 's').takeCalls('id:t');
      process.stdout.write(got ? 'got' : 'none');`;
    const outs = await Promise.all(
      Array.from(
        { length: 8 },
        () =>
          new Promise<string>((resolve) => {
            const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
              stdio: ['ignore', 'pipe', 'inherit'],
            });
            let out = '';
            child.stdout.on('data', (d) => (out += d));
            child.on('close', () => resolve(out));
          }),
      ),
    );
    expect(outs.filter((o) => o === 'got')).toHaveLength(1);
    expect(outs.filter((o) => o === 'none')).toHaveLength(7);
  });

  it('takes every call record at the session’s end', () => {
    const s = new HookState(root(), 'claude-code', 's');
    s.saveCalls('a', calls);
    s.saveCalls('b', { ...calls, callIds: ['c2'] });
    expect(
      s
        .takeAllCalls()
        .flatMap((c) => c.callIds)
        .sort(),
    ).toEqual(['c1', 'c2']);
    expect(s.takeAllCalls()).toEqual([]);
  });

  it('prunes entries older than a week and their emptied folders, at most once an hour', () => {
    const r = root();
    const old = new HookState(r, 'claude-code', 'old');
    const fresh = new HookState(r, 'claude-code', 'fresh');
    old.saveCalls('a', calls);
    fresh.saveCalls('b', calls);
    const oldFolder = join(r, 'claude-code', createHash('sha256').update('old').digest('hex').slice(0, 32));
    const now = Date.now();
    const eightDaysAgo = new Date(now - 8 * 86_400_000);
    for (const f of readdirSync(oldFolder)) utimesSync(join(oldFolder, f), eightDaysAgo, eightDaysAgo);
    pruneHookState(r, now);
    expect(existsSync(oldFolder)).toBe(false);
    expect(fresh.takeCalls('b')).toEqual(calls);
    // Within the hour nothing is walked again.
    old.saveCalls('a', calls);
    for (const f of readdirSync(oldFolder)) utimesSync(join(oldFolder, f), eightDaysAgo, eightDaysAgo);
    pruneHookState(r, now + 60_000);
    expect(old.takeCalls('a')).toEqual(calls);
  });
});
