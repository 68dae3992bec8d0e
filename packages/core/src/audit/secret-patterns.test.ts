import { describe, expect, it } from 'vitest';
import { redactValue } from './redaction.js';
import { redactSecrets, scanWork, secretIn } from './secret-patterns.js';

const AWS_ID = 'AKIAIOSFODNN7EXAMPLE';
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

describe('credentials assigned in free text', () => {
  const positives: [string, string, string][] = [
    [
      'password',
      'login failed: password=hunter2 for bob',
      'login failed: password=[REDACTED:password] for bob',
    ],
    ['password', 'connect(user=bob, passwd=letmein)', 'connect(user=bob, passwd=[REDACTED:password])'],
    ['password', 'DB_PASSWORD="s3cr3t pass"', 'DB_PASSWORD="[REDACTED:password] pass"'],
    ['password', '{"pwd": "changeme"}', '{"pwd": "[REDACTED:password]"}'],
    ['password', "{'passphrase':'correct horse'}", "{'passphrase':'[REDACTED:password] horse'}"],
    ['password', 'secret=ab12cd34 in the env', 'secret=[REDACTED:password] in the env'],
    ['password', 'client_secret = topsecretvalue', 'client_secret = [REDACTED:password]'],
    ['password', 'secret_key=abcdefghijklmnopqrst', 'secret_key=[REDACTED:password]'],
    ['password', 'Password: Hunter2!', 'Password: [REDACTED:password]'],
    ['password', 'card ok, cvv=123, exp 12/29', 'card ok, cvv=[REDACTED:password], exp 12/29'],
    ['password', 'CVC2: 4567', 'CVC2: [REDACTED:password]'],
    ['api_key', 'refresh failed (token=abc123xyz)', 'refresh failed (token=[REDACTED:api_key])'],
    ['api_key', 'access_token: Zx9abcD', 'access_token: [REDACTED:api_key]'],
    ['api_key', 'api_key: q8w7e6r5', 'api_key: [REDACTED:api_key]'],
    ['api_key', '"apiKey":"short1"', '"apiKey":"[REDACTED:api_key]"'],
  ];
  it.each(positives)('redacts %s in %j', (kind, input, expected) => {
    const r = redactValue(input);
    expect(r.value).toBe(expected);
    expect(r.redactions.map((x) => x.kind)).toEqual([kind]);
  });

  it('a JWT or a known key after token= keeps its own kind', () => {
    expect(redactValue('token=ghp_16C7e42F292c6912E7710c838347Ae178B4a').redactions[0]?.kind).toBe('api_key');
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln';
    expect(redactValue(`token=${jwt}`).value).toBe('token=[REDACTED:jwt]');
  });

  it('is idempotent on its own placeholders', () => {
    const once = redactValue('password=hunter2. token=abc123xyz.').value as string;
    expect(once).toBe('password=[REDACTED:password]. token=[REDACTED:api_key].');
    expect(redactValue(once)).toEqual({ value: once, redactions: [], flags: [] });
  });
});

describe('AWS secret access keys in text', () => {
  it.each([
    [`${AWS_ID} ${AWS_SECRET}`, '[REDACTED:aws_access_key] [REDACTED:aws_secret_key]'],
    [`keys ${AWS_ID}:${AWS_SECRET}.`, 'keys [REDACTED:aws_access_key]:[REDACTED:aws_secret_key].'],
    [`id=${AWS_ID}, secret=${AWS_SECRET}`, 'id=[REDACTED:aws_access_key], secret=[REDACTED:password]'],
    [`aws_secret_access_key ${AWS_SECRET}`, 'aws_secret_access_key [REDACTED:aws_secret_key]'],
    [`The Secret Access Key is ${AWS_SECRET}`, 'The Secret Access Key is [REDACTED:aws_secret_key]'],
  ])('redacts the pair in %j', (input, expected) => {
    expect(redactValue(input).value).toBe(expected);
  });

  it('leaves a 40-character run that follows no key id', () => {
    const text = `commit ${'a1b2c3d4e5'.repeat(4)} merged`;
    expect(redactValue(text).value).toBe(text);
  });
});

describe('card verification fields', () => {
  it.each(['cvv', 'CVV2', 'cvc', 'cvc_2', 'csc', 'security_code', 'card-security-code'])(
    'replaces the value of %s',
    (field) => {
      const r = redactValue({ card: { [field]: '123', brand: 'visa' } });
      expect(r.value).toEqual({ card: { [field]: '[REDACTED:field]', brand: 'visa' } });
    },
  );
  it('keeps cid, which is more often a content or correlation id', () => {
    expect(redactValue({ cid: 'msg-42' }).value).toEqual({ cid: 'msg-42' });
  });
});

describe('ordinary text is left alone', () => {
  it.each([
    'Reset your password: open Settings and choose Security.',
    'The password must be at least 12 characters long.',
    'password: required',
    'token: none',
    'Token: Expired',
    'api_key=your-api-key-here',
    'secret=***',
    'We kept the secret: nobody knew.',
    'The token budget is 1,000 tokens per call.',
    'Keep the AWS secret access key in the vault, never in code.',
    'Use passwords=several; it is a list.',
    'cvv is printed on the back of the card',
  ])('keeps %j', (input) => {
    expect(redactValue(input)).toEqual({ value: input, redactions: [], flags: [] });
  });
});

describe('secretIn', () => {
  it('names the kind of the first secret, or nothing', () => {
    expect(secretIn('sk-live-0123456789abcdefABCDEF')).toBe('api_key');
    expect(secretIn('sess-2026-12-07-checkout')).toBeUndefined();
    expect(secretIn('01890a5d-ac96-774b-bcce-b302099a8057')).toBeUndefined();
  });
});

describe('linear time', () => {
  it('stays linear on 1 MB adversarial strings for the assignment shapes', () => {
    const M = 1 << 20;
    const rep = (s: string) => s.repeat(Math.ceil(M / s.length)).slice(0, M);
    for (const s of [
      rep('password='),
      `password=${rep('a')}`,
      rep('token: '),
      `secret key ${' '.repeat(M)}`,
      `Secret Access Key is ${rep(' ')}`,
      rep(`${AWS_ID} `),
      `${AWS_ID}${rep(' ')}`,
      rep('"pwd": "'),
      rep('cvv:'),
    ]) {
      const found: never[] = [];
      expect(typeof redactSecrets(s, found)).toBe('string');
    }
  });
});

describe('ids are not card numbers', () => {
  it('leaves UUIDs and hex ids whose digit runs pass Luhn', () => {
    for (const id of [
      'apr_01a25110-2693-7000-8893-2dbef1ebfe56',
      'key_01a25110-2641-7000-96a8-36051682f70d',
      '01a25110-2666-7000-88da-44fe6e84f3e7',
      'v2511026937000889322',
    ]) {
      expect(redactValue(id).value).toBe(id);
    }
    expect(redactValue('card 2511-0269-3700-0886 ok').value).toBe('card [REDACTED:card_number] ok');
  });
});

describe('scan work stays linear when candidates are rejected', () => {
  /** Characters the scanner matched for `unit` repeated to `chars` characters (rejected matches included). */
  function work(unit: string, chars: number): number {
    const before = scanWork();
    redactSecrets(unit.repeat(Math.ceil(chars / unit.length)), []);
    return scanWork() - before;
  }

  // Each unit is a marker followed by a value the marker's shape rejects (left to its own shape, or a
  // placeholder), and the value runs on into the next marker: before the fix every marker matched to the
  // end of the text, so 4x the input cost 16x the work.
  it.each(['pwd=sk-', 'token=xox-', 'password:https://', 'secret=[REDACTED:x/'])('%j', (unit) => {
    const n = 20_000;
    const small = work(unit, n);
    const large = work(unit, 4 * n);
    expect(large / small).toBeLessThan(4.5);
    expect(large).toBeLessThan(300 * 4 * n);
  });

  it('a password longer than the bounded value is still redacted whole', () => {
    const long = `${'A1b2'.repeat(200)}`;
    expect(redactSecrets(`password=${long} tail`, [])).toBe('password=[REDACTED:password] tail');
  });

  it('a marker nested in a rejected one is still found (access_token: token= after access_)', () => {
    expect(redactSecrets('access_token=abcdefghij/klmnopqr', [])).toBe('access_token=[REDACTED:api_key]');
  });
});
