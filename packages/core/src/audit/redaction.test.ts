import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type JsonValue, redactValue, toJsonSafe } from './redaction.js';
import { redactSecrets } from './secret-patterns.js';

const kinds = (v: unknown) => redactValue(v).redactions.map((r) => r.kind);
const jsonSize = (v: JsonValue) => Buffer.byteLength(JSON.stringify(v));

/** Appends the Luhn check digit to a digit string. */
function withLuhn(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return body + ((10 - (sum % 10)) % 10);
}

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7V1r\nq2Vx9u==\n-----END RSA PRIVATE KEY-----';

describe('secret patterns', () => {
  const positives: [string, string, string][] = [
    ['api_key', 'key sk-proj-AbCdEf0123456789xyzXYZ00 end', 'key [REDACTED:api_key] end'],
    ['api_key', 'sk-ant-api03-Zx9_aB3cD4eF5gH6iJ7kL8', '[REDACTED:api_key]'],
    ['api_key', 'stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'stripe [REDACTED:api_key]'],
    ['api_key', 'rk_test_51Hx2kLmNoPqRsTuV', '[REDACTED:api_key]'],
    ['api_key', 'ghp_16C7e42F292c6912E7710c838347Ae178B4a and more', '[REDACTED:api_key] and more'],
    ['api_key', 'github_pat_11ABCDEFG0123456789_abcdefghij', '[REDACTED:api_key]'],
    ['api_key', 'token xoxb-123456789012-abcdefABCDEF', 'token [REDACTED:api_key]'],
    ['api_key', 'AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI', '[REDACTED:api_key]'],
    ['api_key', 'export API_KEY=f3a9c2e1b4d5a6f7e8d9', 'export API_KEY=[REDACTED:api_key]'],
    ['api_key', '{"apiKey": "Zm9vYmFyYmF6cXV4MTIzNDU2"}', '{"apiKey": "[REDACTED:api_key]"}'],
    [
      'bearer_token',
      "curl -H 'Authorization: Bearer abc.def'",
      "curl -H 'Authorization: Bearer [REDACTED:bearer_token]'",
    ],
    ['bearer_token', 'Authorization: Basic dXNlcjpodW50ZXIy', 'Authorization: Basic [REDACTED:bearer_token]'],
    ['aws_access_key', 'id AKIAIOSFODNN7EXAMPLE,', 'id [REDACTED:aws_access_key],'],
    ['aws_access_key', 'ASIAY34FZKBOKMUTVV7A', '[REDACTED:aws_access_key]'],
    [
      'aws_secret_key',
      'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'aws_secret_access_key = [REDACTED:aws_secret_key]',
    ],
    ['jwt', `token=${JWT}&x=1`, 'token=[REDACTED:jwt]&x=1'],
    [
      'url_password',
      'postgres://admin:s3cr3t@db:5432/app',
      'postgres://admin:[REDACTED:url_password]@db:5432/app',
    ],
    ['url_password', 'redis://:p@ss@cache:6379', 'redis://:[REDACTED:url_password]@cache:6379'],
    [
      'url_password',
      'GET /login?user=bob&password=hunter22&next=/',
      'GET /login?user=bob&password=[REDACTED:url_password]&next=/',
    ],
    ['card_number', 'card 4111 1111 1111 1111 exp', 'card [REDACTED:card_number] exp'],
    ['card_number', '5500-0000-0000-0004', '[REDACTED:card_number]'],
    ['card_number', 'amex 378282246310005.', 'amex [REDACTED:card_number].'],
    ['card_number', '4111 1111 1111 1111 2222', '[REDACTED:card_number] 2222'],
    ['private_key', `key:\n${PEM}\ndone`, 'key:\n[REDACTED:private_key]\ndone'],
    [
      'private_key',
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA (cut)',
      '[REDACTED:private_key]',
    ],
  ];
  it.each(positives)('redacts %s in %j', (kind, input, expected) => {
    const r = redactValue(input);
    expect(r.value).toBe(expected);
    expect(r.redactions).toEqual([{ path: '', kind }]);
  });

  const negatives = [
    'order 4111111111111112 shipped', // 16 digits failing Luhn
    'at 1732540000000 ms', // epoch millis: Luhn-valid prefixes do not start with 1
    '1732540000000',
    'id 550e8400-e29b-41d4-a716-446655440000',
    'the task-force met; sk-learn is a library; ask-me-anything-about-it-please',
    'Bearer authentication is described in RFC 6750',
    'Basic usage: run the tool',
    'https://example.com:8443/path?q=1',
    'AKIA1234 is too short',
    'api_key=your-api-key-here',
    'pi is 3.14159265358979323846',
    'phone +1 (555) 123-4567, zip 94107',
    'sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
  ];
  it.each(negatives)('keeps %j', (input) => {
    expect(redactValue(input)).toEqual({ value: input, redactions: [], flags: [] });
  });

  it('scans object keys and reports them at the redacted key', () => {
    const r = redactValue({ cache: { 'sk-proj-AbCdEf0123456789xyzXYZ00': 1 } });
    expect(r.value).toEqual({ cache: { '[REDACTED:api_key]': 1 } });
    expect(r.redactions).toEqual([{ path: 'cache["[REDACTED:api_key]"]', kind: 'api_key' }]);
  });

  it('never re-matches its own placeholders (redaction is idempotent)', () => {
    const input = { a: `Bearer x.y ${JWT} postgres://u:pw@h ?pwd=p1 4111111111111111`, password: 'p' };
    const once = redactValue(input);
    const twice = redactValue(once.value);
    expect(twice.value).toEqual(once.value);
    expect(twice.redactions.map((r) => r.kind)).toEqual(['field']);
  });

  it('redacts card numbers stored as JSON numbers but keeps other large integers', () => {
    expect(redactValue([4111111111111111, 1732540000000, 4111111111111112]).value).toEqual([
      '[REDACTED:card_number]',
      1732540000000,
      4111111111111112,
    ]);
  });

  it('stays linear on 1 MB adversarial strings', () => {
    const M = 1 << 20;
    const rep = (s: string) => s.repeat(Math.ceil(M / s.length)).slice(0, M);
    const hostile = [
      rep('eyJ'),
      rep('eyJa.'),
      `sk-${rep('a')}`,
      rep('a://'),
      `x://a:${rep('b:')}`,
      rep('41-'),
      rep('4 '),
      rep('Bearer '),
      rep('-----BEGIN PRIVATE KEY-----'),
      `-----BEGIN RSA PRIVATE KEY-----${rep('A')}`,
      rep('api_key='),
      `secret key: ${rep('A')}`,
      rep('?password='),
      rep('1.4111111111111111,'),
    ];
    for (const s of hostile) {
      const found: string[] = [];
      expect(typeof redactSecrets(s, found as never[])).toBe('string');
      const r = redactValue(s, { maxBytes: 4 * M, maxStringBytes: 4 * M });
      expect(typeof r.value).toBe('string');
    }
  });
});

describe('secret fields', () => {
  it('replaces the whole value of default fields at any depth, ignoring case, _ and -', () => {
    const r = redactValue({
      args: { headers: { Authorization: 'Bearer x', 'X-API-KEY': 'k', accept: 'json' }, apiKey: { n: 1 } },
      list: [{ Pass_Word: 42 }, { CLIENT_SECRET: null }],
      max_tokens: 100,
    });
    expect(r.value).toEqual({
      args: {
        headers: { Authorization: '[REDACTED:field]', 'X-API-KEY': '[REDACTED:field]', accept: 'json' },
        apiKey: '[REDACTED:field]',
      },
      list: [{ Pass_Word: '[REDACTED:field]' }, { CLIENT_SECRET: '[REDACTED:field]' }],
      max_tokens: 100,
    });
    expect(r.redactions).toEqual([
      { path: 'args.headers.Authorization', kind: 'field' },
      { path: 'args.headers["X-API-KEY"]', kind: 'field' },
      { path: 'args.apiKey', kind: 'field' },
      { path: 'list[0].Pass_Word', kind: 'field' },
      { path: 'list[1].CLIENT_SECRET', kind: 'field' },
    ]);
  });

  it('adds options.fields to the defaults', () => {
    const r = redactValue(
      { ssn: '123-45-6789', Account_Pin: 1234, password: 'x' },
      { fields: ['ssn', 'account-pin'] },
    );
    expect(r.value).toEqual({
      ssn: '[REDACTED:field]',
      Account_Pin: '[REDACTED:field]',
      password: '[REDACTED:field]',
    });
    expect(kinds({ ssn: '123-45-6789' })).toEqual([]);
  });
});

describe('normalisation', () => {
  it('turns every kind of value into JSON and flags what it changed', () => {
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic.self = cyclic;
    const r = redactValue({
      cyclic,
      big: 12345678901234567890n,
      nums: [Number.NaN, Number.POSITIVE_INFINITY, -0],
      missing: undefined,
      holes: [undefined, () => 1],
      fn: () => 1,
      sym: Symbol('s'),
      when: new Date(0),
      bad: new Date(Number.NaN),
      buf: Buffer.from('abcd'),
      bytes: new Uint8Array(3),
      ab: new ArrayBuffer(7),
      map: new Map<unknown, unknown>([['k', 1]]),
      objMap: new Map<unknown, unknown>([[1, 'one']]),
      set: new Set(['a', 'b']),
      inst: new (class Point {
        x = 1;
        y = 2;
      })(),
      err: new TypeError('boom'),
      text: 'ok \ud800 lone',
    });
    expect(r.value).toEqual({
      cyclic: { n: 1, self: '[CIRCULAR]' },
      big: '12345678901234567890',
      nums: [null, null, 0],
      holes: [null, null],
      when: '1970-01-01T00:00:00.000Z',
      bad: null,
      buf: '[BINARY 4 bytes]',
      bytes: '[BINARY 3 bytes]',
      ab: '[BINARY 7 bytes]',
      map: { k: 1 },
      objMap: [[1, 'one']],
      set: ['a', 'b'],
      inst: { x: 1, y: 2 },
      err: { name: 'TypeError', message: 'boom' },
      text: 'ok \ufffd lone',
    });
    expect(r.flags).toEqual(['binary', 'circular', 'invalid_utf8', 'non_json']);
  });

  it('never throws on hostile objects', () => {
    const throwing = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('trap');
        },
      },
    );
    const getter = Object.defineProperty({ ok: 1 }, 'bad', {
      enumerable: true,
      get: () => {
        throw new Error('get');
      },
    });
    const r = redactValue({ throwing, getter });
    expect(r.value).toEqual({ throwing: '[UNSERIALIZABLE]', getter: { ok: 1 } });
    expect(r.flags).toEqual(['non_json']);
    expect(toJsonSafe(throwing)).toBe('[UNSERIALIZABLE]');
  });

  it('keeps __proto__, constructor and prototype as plain data without polluting prototypes', () => {
    const input = JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}}}');
    const r = redactValue(input);
    expect(JSON.stringify(r.value)).toBe(
      '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}}}',
    );
    expect(Object.getPrototypeOf(r.value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(toJsonSafe(input))).toBe(JSON.stringify(r.value));
  });

  it('stops at maxDepth without recursing through a 100,000-deep input', () => {
    const root: Record<string, unknown> = {};
    let node = root;
    for (let i = 0; i < 100_000; i++) node = node.c = {} as Record<string, unknown>;
    const r = redactValue(root, { maxDepth: 3 });
    expect(r.value).toEqual({ c: { c: { c: '[TOO_DEEP]' } } });
    expect(r.flags).toEqual(['too_deep']);
    expect(JSON.stringify(redactValue(root).value).split('{').length - 1).toBe(32);
    expect(JSON.stringify(toJsonSafe(root))).toContain('[TOO_DEEP]');
  });

  it('toJsonSafe normalises the same way but neither redacts nor caps', () => {
    const input = { password: 'hunter2', note: 'Bearer abc.def', long: 'x'.repeat(100_000), n: Number.NaN };
    expect(toJsonSafe(input)).toEqual({ ...input, n: null });
  });
});

describe('size caps', () => {
  it('cuts long strings first, keeping their head', () => {
    const r = redactValue({ big: 'x'.repeat(10_000_000), small: 'keep' });
    const value = r.value as Record<string, string>;
    expect(value.big).toBe(`${'x'.repeat(8192)}…[TRUNCATED ${10_000_000 - 8192} bytes]`);
    expect(value.small).toBe('keep');
    expect(r.flags).toEqual(['truncated']);
  });

  it('redacts a secret sitting on the cut of a long string', () => {
    const s = `${'y'.repeat(8180)} sk-proj-AbCdEf0123456789xyzXYZ00 ${'y'.repeat(200_000)}`;
    const r = redactValue(s);
    expect(r.value).not.toContain('sk-proj-AbC');
    expect(r.redactions[0]).toEqual({ path: '', kind: 'api_key' });
  });

  it('cuts a 1M-element array to its leading elements', () => {
    const r = redactValue({ items: Array.from({ length: 1_000_000 }, (_, i) => i) });
    const items = (r.value as { items: JsonValue[] }).items;
    expect(items.slice(0, 3)).toEqual([0, 1, 2]);
    expect(items.at(-1)).toMatch(/^…\[TRUNCATED \d+ items\]$/);
    expect(jsonSize(r.value)).toBeLessThanOrEqual(65536);
    expect(r.flags).toEqual(['truncated']);
  });

  it('falls back to a redacted summary when cutting is not enough', () => {
    const wide = Object.fromEntries(
      Array.from({ length: 20_000 }, (_, i) => [`k${i}`, `sk-proj-AbCdEf0123456789xyz${i}`]),
    );
    const r = redactValue(wide);
    const value = r.value as { $truncated: boolean; bytes: number; preview: string };
    expect(value.$truncated).toBe(true);
    expect(value.bytes).toBe(Buffer.byteLength(JSON.stringify(redactValue(wide, { maxBytes: 1e9 }).value)));
    expect(value.preview.startsWith('{"k0":"[REDACTED:api_key]","k1"')).toBe(true);
    expect(value.preview).not.toContain('sk-proj');
  });

  it('keeps the JSON within maxBytes plus a small constant, whatever the shape', () => {
    const shapes: unknown[] = [
      'z'.repeat(300_000),
      Array.from({ length: 5000 }, (_, i) => ({ i, s: 'q'.repeat(i % 50), a: [i, [i]] })),
      { a: Array(3000).fill('é'.repeat(40)), b: Array(3000).fill('"\n'.repeat(20)), c: 'x'.repeat(9000) },
      Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`${'k'.repeat(40)}${i}`, i])),
      [['\u0001'.repeat(5000)], { deep: [[['😀'.repeat(6000)]]] }],
    ];
    for (const maxBytes of [64, 512, 4096, 65536]) {
      for (const shape of shapes) {
        const r = redactValue(shape, { maxBytes, maxStringBytes: Math.min(8192, maxBytes) });
        expect(jsonSize(r.value)).toBeLessThanOrEqual(maxBytes + 128);
        const whole = jsonSize(redactValue(shape, { maxBytes: 1e9 }).value);
        expect(r.flags.includes('truncated')).toBe(whole > maxBytes);
      }
    }
  });
});

/** One planted secret: the text to plant and the part of it that must never be stored. */
interface Plant {
  readonly text: string;
  readonly secret: string;
  /** Planted as `{ [field]: secret }` instead of as text. */
  readonly field?: string;
}

const alnum = (min: number, max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9]{${min},${max}}$`));
const withDigit = (min: number, max: number) => alnum(min, max).map((s) => `${s}7`);
const b64url = alnum(8, 40).map((s) => `${s}_-`);
const plantArb: fc.Arbitrary<Plant> = fc.oneof(
  withDigit(12, 30).map((r) => ({ text: `sk-live-CANARY${r}`, secret: `sk-live-CANARY${r}` })),
  withDigit(20, 40).map((r) => ({ text: `sk-ant-api03-${r}`, secret: `sk-ant-api03-${r}` })),
  alnum(36, 36).map((r) => ({ text: `ghp_${r}`, secret: `ghp_${r}` })),
  alnum(24, 30).map((r) => ({ text: `sk_live_${r}`, secret: `sk_live_${r}` })),
  alnum(12, 24).map((r) => ({ text: `xoxb-1234567890-${r}`, secret: `xoxb-1234567890-${r}` })),
  alnum(35, 35).map((r) => ({ text: `AIza${r}`, secret: `AIza${r}` })),
  withDigit(16, 30).map((r) => ({ text: `api_key=${r}`, secret: r })),
  withDigit(10, 40).map((r) => ({ text: `Authorization: Bearer ${r}.x`, secret: `${r}.x` })),
  fc
    .tuple(alnum(3, 10), withDigit(8, 20))
    .map(([u, p]) => ({ text: `Basic ${btoa(`${u}:${p}`)}`, secret: btoa(`${u}:${p}`) })),
  fc.stringMatching(/^[A-Z0-9]{16}$/).map((r) => ({ text: `AKIA${r}`, secret: `AKIA${r}` })),
  fc.stringMatching(/^[A-Za-z0-9/+]{40}$/).map((r) => ({ text: `aws_secret_access_key=${r}`, secret: r })),
  fc
    .tuple(b64url, b64url, b64url)
    .map(([a, b, c]) => ({ text: `eyJ${a}.eyJ${b}.${c}`, secret: `eyJ${a}.eyJ${b}.${c}` })),
  withDigit(10, 20).map((p) => ({ text: `https://bob:PW${p}@example.com/x`, secret: `PW${p}` })),
  fc.stringMatching(/^[0-9]{14}$/).map((d) => {
    const card = withLuhn(`4${d}`);
    return { text: card.replace(/(\d{4})(?=\d)/g, '$1 '), secret: card.replace(/(\d{4})(?=\d)/g, '$1 ') };
  }),
  alnum(30, 60).map((b) => ({
    text: `-----BEGIN PRIVATE KEY-----\nCANARY${b}\n-----END PRIVATE KEY-----`,
    secret: `CANARY${b}`,
  })),
  fc
    .tuple(fc.constantFrom('Password', 'API-KEY', 'apiKey', 'client_secret', 'Set-Cookie'), alnum(10, 20))
    .map(([field, r]) => ({ text: '', secret: `CANARYFIELD${r}`, field })),
);

class Slot {
  constructor(
    readonly plant: number,
    readonly mode: 'value' | 'inside' | 'key',
    readonly before: string,
    readonly after: string,
  ) {}
}

const slotArb = fc
  .tuple(
    fc.nat(),
    fc.constantFrom('value', 'inside', 'key'),
    fc.string({ maxLength: 20 }),
    fc.string({ maxLength: 20 }),
  )
  .map(([p, m, b, a]) => new Slot(p, m as Slot['mode'], b, a));
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small' },
    fc.oneof(fc.jsonValue({ maxDepth: 1 }), slotArb),
    fc.array(tie('tree'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('tree'), { maxKeys: 4 }),
  ),
}));

function materialize(node: unknown, plants: readonly Plant[]): unknown {
  if (node instanceof Slot) {
    const plant = plants[node.plant % plants.length] as Plant;
    if (plant.field !== undefined) return { [plant.field]: plant.secret };
    const inside = `${node.before} ${plant.text} ${node.after}`;
    if (node.mode === 'key') return { [inside]: 1 };
    return node.mode === 'value' ? plant.text : inside;
  }
  if (Array.isArray(node)) return node.map((n) => materialize(n, plants));
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, materialize(v, plants)]));
  }
  return node;
}

describe('canary', () => {
  it('never lets a planted secret through, wherever it is planted', () => {
    fc.assert(
      fc.property(
        fc.array(plantArb, { minLength: 1, maxLength: 6 }),
        fc.array(tree, { minLength: 1, maxLength: 4 }),
        (plants, trees) => {
          const input = [
            ...trees.map((t) => materialize(t, plants)),
            ...plants.map((p, i) => materialize(new Slot(i, 'inside', '', ''), [p])),
          ];
          const stored = JSON.stringify(redactValue(input).value);
          for (const plant of plants) expect(stored).not.toContain(plant.secret);
        },
      ),
      { numRuns: 300 },
    );
  });
});
