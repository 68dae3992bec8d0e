import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { publicBaseUrl, resolveServerConfig } from './server-config.js';

const dir = mkdtempSync(join(tmpdir(), 'warden-config-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('resolveServerConfig', () => {
  it('has defaults that run with no arguments', () => {
    expect(resolveServerConfig({}, {})).toMatchObject({
      db: './warden.db',
      port: 7400,
      host: '127.0.0.1',
      bodyLimitBytes: 1024 * 1024,
    });
  });

  it('flags beat environment, which beats the config file', () => {
    const config = file('c.yaml', 'port: 9000\nhost: 0.0.0.0\ndb: from-file.db\npollMs: 500\n');
    const env = { WARDEN_CONFIG: config, WARDEN_PORT: '9100', WARDEN_DB: 'from-env.db' };
    expect(resolveServerConfig({}, env)).toMatchObject({
      port: 9100,
      host: '0.0.0.0',
      db: 'from-env.db',
      pollMs: 500,
    });
    expect(resolveServerConfig({ port: '9200' }, env)).toMatchObject({ port: 9200, db: 'from-env.db' });
    expect(resolveServerConfig({ db: 'sqlite:/tmp/x.db' }, {}).db).toBe('/tmp/x.db');
  });

  it('reads JSON config files too', () => {
    expect(resolveServerConfig({ config: file('c.json', '{"port": 8123}') }, {}).port).toBe(8123);
  });

  it('names the bad setting and where it came from', () => {
    expect(() => resolveServerConfig({}, { WARDEN_PORT: 'abc' })).toThrow(/port \(environment\)/);
    expect(() => resolveServerConfig({ port: '70000' }, {})).toThrow(/port \(flag\)/);
    const unknown = file('u.yaml', 'prot: 80\n');
    expect(() => resolveServerConfig({ config: unknown }, {})).toThrow(/prot/);
    expect(() => resolveServerConfig({ config: join(dir, 'missing.yaml') }, {})).toThrow(
      /cannot read the config file/,
    );
    expect(() => resolveServerConfig({ config: file('bad.yaml', '- a\n- b\n') }, {})).toThrow(
      /must be a mapping/,
    );
    try {
      resolveServerConfig({}, { WARDEN_LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    }
  });
});

describe('notification settings', () => {
  const hook = { name: 'ops-slack', url: 'https://hooks.slack.com/services/T0/B0/x' };
  const withHooks = (hooks: unknown[], extra = '') =>
    file(
      `w${Math.random().toString(36).slice(2)}.json`,
      JSON.stringify({ webhooks: hooks, ...JSON.parse(extra || '{}') }),
    );

  it('defaults to no webhooks, no public URL, 6 attempts from 500 ms', () => {
    const c = resolveServerConfig({}, {});
    expect(c).toMatchObject({ webhooks: [], webhookMaxAttempts: 6, webhookBaseDelayMs: 500 });
    expect(c.publicUrl).toBeUndefined();
    expect(publicBaseUrl(c)).toBe('http://127.0.0.1:7400');
    expect(publicBaseUrl({ ...c, host: '0.0.0.0' }, 8123)).toBe('http://127.0.0.1:8123');
    expect(publicBaseUrl({ ...c, host: '::1' })).toBe('http://[::1]:7400');
  });

  it('reads webhooks from the config file with defaults for format and events', () => {
    const c = resolveServerConfig(
      {
        config: withHooks([
          hook,
          { ...hook, name: 'audit', format: 'slack', events: ['approval.decided'], secret: 's'.repeat(16) },
        ]),
      },
      {},
    );
    expect(c.webhooks).toEqual([
      {
        ...hook,
        format: 'json',
        events: [
          'approval.requested',
          'approval.escalated',
          'approval.decided',
          'budget.alert',
          'budget.exceeded',
          'session.paused',
          'breaker.tripped',
        ],
      },
      { ...hook, name: 'audit', format: 'slack', events: ['approval.decided'], secret: 's'.repeat(16) },
    ]);
    const yaml = file(
      'h.yaml',
      'webhooks:\n  - name: a.b_c-1\n    url: http://127.0.0.1:9/x\nwebhookMaxAttempts: 3\n',
    );
    expect(resolveServerConfig({ config: yaml }, {})).toMatchObject({
      webhooks: [{ name: 'a.b_c-1' }],
      webhookMaxAttempts: 3,
    });
  });

  it('reads publicUrl, attempts and base delay from anywhere, and checks them', () => {
    const c = resolveServerConfig(
      { webhookBaseDelayMs: '50' },
      { WARDEN_PUBLIC_URL: 'https://warden.example.com/' },
    );
    expect(c).toMatchObject({ publicUrl: 'https://warden.example.com/', webhookBaseDelayMs: 50 });
    expect(publicBaseUrl(c)).toBe('https://warden.example.com');
    expect(() => resolveServerConfig({}, { WARDEN_PUBLIC_URL: 'warden.example.com' })).toThrow(
      /publicUrl \(environment\)/,
    );
    expect(() => resolveServerConfig({ publicUrl: 'ftp://x.example' }, {})).toThrow(
      /publicUrl \(flag\): must be an http/,
    );
    expect(() => resolveServerConfig({ webhookMaxAttempts: '0' }, {})).toThrow(/webhookMaxAttempts/);
    expect(() => resolveServerConfig({ webhookMaxAttempts: '21' }, {})).toThrow(/webhookMaxAttempts/);
    expect(() => resolveServerConfig({ webhookBaseDelayMs: '5' }, {})).toThrow(/webhookBaseDelayMs/);
  });

  it('subscribes a webhook to budget and session events, and refuses events nobody announces', () => {
    const events = ['budget.alert', 'budget.exceeded', 'session.paused', 'breaker.tripped'];
    const c = resolveServerConfig({ config: withHooks([{ ...hook, events }]) }, {});
    expect(c.webhooks[0]?.events).toEqual(events);
    expect(() =>
      resolveServerConfig({ config: withHooks([{ ...hook, events: ['session.resumed'] }]) }, {}),
    ).toThrow(/webhooks\.0\.events\.0/);
  });

  it('names each bad webhook field and the file it came from', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...hook, name: 'has space' }, /webhooks\.0\.name \(.*w.*\.json\): use only letters/],
      [{ ...hook, name: 'x'.repeat(101) }, /webhooks\.0\.name/],
      [{ ...hook, url: 'javascript:alert(1)' }, /webhooks\.0\.url .*must be an http/],
      [{ ...hook, url: 'not a url' }, /webhooks\.0\.url/],
      [{ ...hook, secret: 'short' }, /webhooks\.0\.secret .*at least 16 characters, or env:VARIABLE/],
      [{ ...hook, secret: 'whsec_not_base64_0123456789' }, /webhooks\.0\.secret .*standard base64/],
      [
        { ...hook, secret: `whsec_${'A'.repeat(24)}` },
        /webhooks\.0\.secret .*at least 24 bytes \(it holds 18\)/,
      ],
      [
        { ...hook, url: 'https://hook-user:hunter2@hooks.example.com/services/SlackPathSecret' },
        /webhooks\.0\.url .*must not contain a user name or password/,
      ],
      [{ ...hook, url: 'https://token@hooks.example.com/x' }, /webhooks\.0\.url .*user name or password/],
      [{ ...hook, secret: 'pässwörd-0123456789' }, /webhooks\.0\.secret .*printable ASCII.*whsec_/],
      [{ ...hook, secret: ['x'.repeat(16), 'short'] }, /webhooks\.0\.secret\.1 .*at least 16 characters/],
      [{ ...hook, secret: [] }, /webhooks\.0\.secret/],
      [{ ...hook, format: 'teams' }, /webhooks\.0\.format/],
      [{ ...hook, events: ['approval.voted'] }, /webhooks\.0\.events\.0/],
      [{ ...hook, events: [] }, /webhooks\.0\.events/],
      [{ ...hook, extra: true }, /extra/],
      [{ url: hook.url }, /webhooks\.0\.name/],
    ];
    for (const [bad, message] of cases) {
      expect(() => resolveServerConfig({ config: withHooks([bad]) }, {}), JSON.stringify(bad)).toThrow(
        message,
      );
    }
    // The error names the field, never the URL's secret parts.
    expect(() =>
      resolveServerConfig(
        { config: withHooks([{ ...hook, url: 'https://u:hunter2@hooks.example.com/SlackPathSecret' }]) },
        {},
      ),
    ).toThrow(expect.objectContaining({ message: expect.not.stringMatching(/hunter2|SlackPathSecret/) }));
    expect(() => resolveServerConfig({ config: file('n.json', '{"webhooks": {"name": "x"}}') }, {})).toThrow(
      /webhooks/,
    );
  });

  it('refuses two webhooks with the same name', () => {
    const twice = withHooks([hook, { ...hook, url: 'https://example.com/other' }]);
    expect(() => resolveServerConfig({ config: twice }, {})).toThrow(
      /webhooks\.1\.name .*"ops-slack" is used twice/,
    );
  });

  it('reads env:NAME secrets from the environment, and refuses unset or short ones', () => {
    const config = withHooks([{ ...hook, secret: 'env:OPS_HOOK_SECRET' }]);
    const c = resolveServerConfig({ config }, { OPS_HOOK_SECRET: 'x'.repeat(32) });
    expect(c.webhooks[0]?.secret).toBe('x'.repeat(32));
    for (const env of [{}, { OPS_HOOK_SECRET: '' }, { OPS_HOOK_SECRET: 'tooshort' }]) {
      try {
        resolveServerConfig({ config }, env);
        expect.unreachable();
      } catch (err) {
        expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
        expect((err as Error).message).toMatch(
          /webhooks\.0\.secret .*OPS_HOOK_SECRET (is not set|must be at least 16)/,
        );
      }
    }
    expect(() =>
      resolveServerConfig({ config }, { OPS_HOOK_SECRET: 'whsec_MDEyMzQ1Njc4OWFiY2RlZg==' }),
    ).toThrow(/webhooks\.0\.secret .*\$OPS_HOOK_SECRET: a whsec_ secret must hold at least 24 bytes/);
    expect(() => resolveServerConfig({ config }, { OPS_HOOK_SECRET: 'ünïcödé-secret-0123456789' })).toThrow(
      /webhooks\.0\.secret .*\$OPS_HOOK_SECRET: a secret not in whsec_ form must be printable ASCII/,
    );
    // A list (key rotation) resolves each entry, and names the one that is wrong.
    const rotating = withHooks([{ ...hook, secret: ['env:NEW_SECRET', 'an-old-literal-secret-123'] }]);
    const whsec = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    expect(resolveServerConfig({ config: rotating }, { NEW_SECRET: whsec }).webhooks[0]?.secret).toEqual([
      whsec,
      'an-old-literal-secret-123',
    ]);
    expect(() => resolveServerConfig({ config: rotating }, {})).toThrow(
      /webhooks\.0\.secret\.0 .*NEW_SECRET is not set/,
    );
    // A literal secret that merely starts with "env:" but is not a variable reference is taken as it is.
    const literal = 'env:not a variable name!';
    expect(
      resolveServerConfig({ config: withHooks([{ ...hook, secret: literal }]) }, {}).webhooks[0]?.secret,
    ).toBe(literal);
  });
});
