import { isWardenError } from '@warden/core';
import { describe, expect, it } from 'vitest';
import { parseLabels, parseTtl } from './tasks.js';

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
