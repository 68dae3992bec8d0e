import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs the real `warden` entry point in its own process, as a user would. */
function warden(args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--conditions=@warden/source', '--import', 'tsx', 'packages/cli/src/bin.ts', ...args],
    {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('the warden process', () => {
  it('exits 0 on the example policy', () => {
    expect(warden(['policy', 'lint', 'packages/server/example-policy']).code).toBe(0);
  });

  it('warns where a review rule relies on claimed identities (no task token required), not in the examples', () => {
    const file = join(tmpdir(), `warden-claims-${process.pid}.yaml`);
    writeFileSync(file, 'agents:\n  bot:\n    rules:\n      - { id: pay, effect: review, tools: pay }\n');
    const r = warden(['policy', 'lint', file]);
    expect(r.out).toMatch(
      /:4:\d+ warning REVIEW_UNVERIFIED_IDENTITY rule pay: .*bot does not require a task token/,
    );
    for (const example of ['packages/server/example-policy', 'packages/cli/demo/policy.yaml'])
      expect(warden(['policy', 'lint', example]).out, example).not.toContain('REVIEW_UNVERIFIED_IDENTITY');
  });

  it('a 10 MB file, a deeply nested one and binary junk: clear errors, exit 1, no stack traces, no hang', () => {
    const dir = tmpdir();
    const big = join(dir, `warden-big-${process.pid}.yaml`);
    writeFileSync(big, `# ${'x'.repeat(10 * 1024 * 1024)}\n`);
    const deep = join(dir, `warden-deep-${process.pid}.yaml`);
    writeFileSync(deep, `agents: ${'{a: '.repeat(50_000)}`);
    const junk = join(dir, `warden-junk-${process.pid}.yaml`);
    writeFileSync(junk, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)));
    const r = warden(['policy', 'lint', '--separate', big, deep, junk]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/warden-big-\d+\.yaml:1:1 error FILE_TOO_LARGE file is 10\.0 MiB/);
    expect(r.out).toMatch(/warden-deep-\d+\.yaml:\d+:\d+ error TOO_DEEP/);
    expect(r.out).toMatch(/warden-junk-\d+\.yaml:\d+:\d+ error /);
    expect(r.out + r.err).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/);
  });

  it('help and unknown commands', () => {
    const help = warden(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/policy/);
    const bad = warden(['polcy']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/unknown command 'polcy'/);
  });
});
