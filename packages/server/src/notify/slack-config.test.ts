import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveServerConfig } from '../config/server-config.js';

const dir = mkdtempSync(join(tmpdir(), 'warden-slack-config-'));
let n = 0;
const configWith = (...lines: string[]) => {
  const p = join(dir, `c${n++}.yaml`);
  writeFileSync(p, ['slack:', ...lines.map((l) => `  ${l}`), ''].join('\n'));
  return p;
};
const ENV = {
  SLACK_BOT_TOKEN: 'xoxb-1234-5678-abcdefABCDEF',
  SLACK_SIGNING_SECRET: '8f742231b10e8888abcd99yyyzzz85a5',
};
const GOOD = [
  'botToken: env:SLACK_BOT_TOKEN',
  'signingSecret: env:SLACK_SIGNING_SECRET',
  'channel: C0APPROVALS',
  'teamId: T0ACME0001',
];

const problem = (config: string, env: NodeJS.ProcessEnv = ENV) => {
  try {
    resolveServerConfig({ config }, env);
    return 'accepted';
  } catch (err) {
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    return (err as Error).message;
  }
};

describe('the slack section of the server configuration', () => {
  it('reads the secrets from the environment and fills in the defaults', () => {
    const c = resolveServerConfig(
      { config: configWith(...GOOD, 'users:', '  U024BE7LH: ana@example.com') },
      ENV,
    );
    expect(c.slack).toEqual({
      botToken: ENV.SLACK_BOT_TOKEN,
      signingSecret: ENV.SLACK_SIGNING_SECRET,
      channel: 'C0APPROVALS',
      apiBaseUrl: 'https://slack.com/api',
      teamId: 'T0ACME0001',
      users: { U024BE7LH: 'ana@example.com' },
      mapBy: ['map', 'email'],
    });
    expect(resolveServerConfig({}, ENV).slack).toBeUndefined();
  });

  it('names the field that is wrong, never echoing a secret', () => {
    expect(problem(configWith('botToken: xoxb-1234-5678-literal', ...GOOD.slice(1)))).toMatch(
      /slack\.botToken .*must be env:VARIABLE/,
    );
    expect(problem(configWith(...GOOD), { SLACK_SIGNING_SECRET: ENV.SLACK_SIGNING_SECRET })).toMatch(
      /slack\.botToken .*SLACK_BOT_TOKEN is not set/,
    );
    const notAToken = problem(configWith(...GOOD), { ...ENV, SLACK_BOT_TOKEN: 'hunter2-not-a-token' });
    expect(notAToken).toMatch(/slack\.botToken .*does not look like a Slack bot token/);
    expect(notAToken).not.toContain('hunter2');
    expect(problem(configWith(...GOOD), { ...ENV, SLACK_SIGNING_SECRET: 'short' })).toMatch(
      /slack\.signingSecret .*at least 16 characters/,
    );
    expect(problem(configWith(...GOOD.slice(0, 2)))).toMatch(/slack\.channel/);
    expect(problem(configWith(...GOOD, 'users:', '  ana: ana@example.com'))).toMatch(
      /slack\.users\.ana .*is not a Slack user id/,
    );
    expect(problem(configWith(...GOOD, 'mapBy: [email, name]'))).toMatch(/slack\.mapBy\.1/);
    expect(problem(configWith(...GOOD, 'mapBy: [email, email]'))).toMatch(/slack\.mapBy .*twice/);
    expect(problem(configWith(...GOOD, 'apiBaseUrl: ftp://slack.example'))).toMatch(/slack\.apiBaseUrl/);
    expect(problem(configWith(...GOOD, 'chanel: C0X'))).toMatch(/chanel/);
    expect(problem(configWith(...GOOD.slice(0, 3), 'teamId: acme'))).toMatch(/slack\.teamId .*workspace id/);
    expect(problem(configWith(...GOOD, 'enterpriseId: T0X1'))).toMatch(/slack\.enterpriseId/);
  });

  it('requires the workspace id when Slack emails map people: email mapping trusts that workspace only', () => {
    expect(problem(configWith(...GOOD.slice(0, 3)))).toMatch(
      /slack\.teamId .*required when mapBy includes email/,
    );
    expect(problem(configWith(...GOOD.slice(0, 3), 'mapBy: [email]'))).toMatch(/slack\.teamId/);
    // The explicit map alone names Slack user ids one by one: no workspace needs trusting.
    expect(problem(configWith(...GOOD.slice(0, 3), 'mapBy: [map]'))).toBe('accepted');
  });
});
