import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWardenError } from '@warden/core';
import { describe, expect, it } from 'vitest';
import { exportLine, parseLabels, parseTtl } from './tasks.js';

function usage(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    if (isWardenError(err, 'USAGE')) return err.message;
    throw err;
  }
  throw new Error('expected a USAGE error');
}

describe('warden tasks start: its flags', () => {
  it('--ttl takes whole seconds from 1 to 86400, and says the form otherwise', () => {
    expect(parseTtl('1')).toBe(1);
    expect(parseTtl(' 7200 ')).toBe(7200);
    expect(parseTtl('86400')).toBe(86_400);
    for (const bad of ['0', '86401', '1d', '1.5', '-5', '', '1e3']) {
      expect(usage(() => parseTtl(bad))).toContain(`--ttl "${bad}" must be the token's lifetime`);
    }
  });

  it('--label KEY=VALUE (the value may hold "=" or be empty); no key or a key twice is refused', () => {
    expect(parseLabels(['repo=warden', 'query=a=b', 'note='])).toEqual({
      repo: 'warden',
      query: 'a=b',
      note: '',
    });
    expect(usage(() => parseLabels(['x']))).toBe('--label "x" must be KEY=VALUE, e.g. --label repo=warden');
    expect(usage(() => parseLabels(['=v']))).toContain('--label "=v" must be KEY=VALUE');
    expect(usage(() => parseLabels(['a=1', 'a=2']))).toBe('--label a is given twice');
  });
});

describe('warden tasks start --export', () => {
  it('quotes the token so that eval in sh sets it exactly and runs nothing else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-export-'));
    try {
      for (const token of ['wdn_abc-_.', "x'; touch pwned; echo '", 'a b $(touch pwned) `id` "q" \\']) {
        writeFileSync(join(dir, 'line'), exportLine(token));
        const out = execFileSync('sh', ['-c', 'eval "$(cat line)"; printf %s "$WARDEN_TASK_TOKEN"'], {
          cwd: dir,
        });
        expect(out.toString()).toBe(token);
        expect(existsSync(join(dir, 'pwned'))).toBe(false);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
