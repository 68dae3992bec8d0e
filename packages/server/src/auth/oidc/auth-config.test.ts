import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveServerConfig } from '../../config/server-config.js';

const dir = mkdtempSync(join(tmpdir(), 'warden-auth-config-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

function problemsOf(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    resolveServerConfig({ config: file(`c-${Math.random()}.yaml`, yaml) }, env);
    return [];
  } catch (err) {
    return (err as { details: { problems: string[] } }).details.problems;
  }
}

describe('the auth section of the server config', () => {
  it('defaults to key sign-in and no SSO', () => {
    expect(resolveServerConfig({}, {}).auth).toEqual({ keySignIn: true });
  });

  it('reads the IdP, its client, the claims and the group mappings, with an env: secret', () => {
    const config = resolveServerConfig(
      {
        config: file(
          'sso.yaml',
          `auth:
  keySignIn: false
  oidc:
    issuer: https://acme.okta.com/oauth2/default/
    clientId: 0oa1warden
    clientSecret: env:OIDC_SECRET
    roles:
      admin: [platform-admins]
      approver: [warden-approvers]
    approverGroups: [dba, security]
`,
        ),
      },
      { OIDC_SECRET: 's3cret-from-the-environment' },
    );
    expect(config.auth).toEqual({
      keySignIn: false,
      oidc: {
        issuer: 'https://acme.okta.com/oauth2/default',
        clientId: '0oa1warden',
        clientSecret: 's3cret-from-the-environment',
        scopes: ['openid', 'email', 'profile', 'groups'],
        personClaim: 'email',
        groupsClaim: 'groups',
        trustUnverifiedEmail: false,
        roles: { admin: ['platform-admins'], approver: ['warden-approvers'], auditor: [] },
        approverGroups: ['dba', 'security'],
        taskAudiences: [],
      },
    });
  });

  it('names each wrong field and the file it came from', () => {
    const problems = problemsOf(`auth:
  oidc:
    issuer: not a url
    clientId: warden
    clientSecret: x
    personClaim: name
    roles: { owner: [x] }
`);
    expect(problems.some((p) => /^auth\.oidc\.issuer \(.*\.yaml\): must be the issuer URL/.test(p))).toBe(
      true,
    );
    expect(problems.some((p) => p.startsWith('auth.oidc.personClaim'))).toBe(true);
    expect(problems.some((p) => p.startsWith('auth.oidc.roles') && p.includes('owner'))).toBe(true);
  });

  it('refuses an unset env: secret, and keySignIn false with no IdP', () => {
    const unset = problemsOf(
      'auth:\n  oidc: { issuer: "https://idp.example.com", clientId: w, clientSecret: "env:NOPE" }\n',
    );
    expect(unset).toEqual([
      expect.stringMatching(/^auth\.oidc\.clientSecret .*the environment variable NOPE is not set/),
    ]);
    const locked = problemsOf('auth:\n  keySignIn: false\n');
    expect(locked).toEqual([expect.stringMatching(/^auth\.keySignIn .*needs auth\.oidc/)]);
  });

  it('needs publicUrl off loopback and an https issuer off loopback, naming the field', () => {
    const oidc = (issuer: string) => `auth:\n  oidc: { issuer: "${issuer}", clientId: w, clientSecret: s }\n`;
    expect(problemsOf(`host: 0.0.0.0\n${oidc('https://idp.example.com')}`)).toEqual([
      expect.stringMatching(/^publicUrl \(default\): auth\.oidc needs publicUrl .*0\.0\.0\.0/),
    ]);
    expect(
      problemsOf(`host: 0.0.0.0\npublicUrl: https://w.example.com\n${oidc('https://idp.example.com')}`),
    ).toEqual([]);
    expect(problemsOf(oidc('http://idp.example.com'))).toEqual([
      expect.stringMatching(/^auth\.oidc\.issuer \(.*\.yaml\): must be https:\/\//),
    ]);
    for (const loopback of ['http://127.0.0.1:9000', 'http://localhost:9000', 'http://[::1]:9000']) {
      expect(problemsOf(oidc(loopback)), loopback).toEqual([]);
    }
    // Without SSO neither is needed.
    expect(problemsOf('host: 0.0.0.0\n')).toEqual([]);
  });
});
