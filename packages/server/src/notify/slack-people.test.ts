import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type PersonRecord, type Store } from '@warden/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SlackStandin, STANDIN_TEAM, startSlackStandin } from '../../test-support/slack-standin.js';
import { SlackApi } from './slack-api.js';
import type { SlackConfig } from './slack-config.js';
import { slackPerson } from './slack-people.js';

/**
 * The users.info checks of email mapping, against the Slack stand-in (Slack's wire format) and a real
 * SQLite store. The process test (slack-process.test.ts) refuses outsiders on the click's own workspace
 * first; these show the users.info answer is checked as well, whatever the click said.
 */
let dir: string;
let store: Store;
let slack: SlackStandin;
let api: SlackApi;

const ALICE: PersonRecord = {
  issuer: 'https://idp.example.com',
  subject: 'alice-0001',
  name: 'alice-0001',
  email: 'alice@corp.example',
  displayName: 'Alice',
  role: 'approver',
  groups: ['ops'],
  approverGroups: ['ops'],
  firstSignedInAt: '2026-01-01T00:00:00.000Z',
  lastSignedInAt: new Date().toISOString(),
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-slack-people-'));
  store = await openStore(join(dir, 'w.db'));
  await store.commit([{ mutations: [{ kind: 'person.upsert', person: ALICE }], events: [] }]);
  slack = await startSlackStandin({
    channels: ['C0APPROVALS'],
    users: [
      { id: 'U0ALICE001', name: 'alice', email: 'alice@corp.example' },
      // Members of another organisation whose admin set Alice's email on them.
      { id: 'U0OUTSIDE1', name: 'out', email: 'alice@corp.example', teamId: 'T0OTHERORG' },
      { id: 'U0STRANGE1', name: 'str', email: 'alice@corp.example', isStranger: true },
      { id: 'U0NOCONF01', name: 'nc', email: 'alice@corp.example', emailConfirmed: null },
      { id: 'U0UNCONF01', name: 'uc', email: 'alice@corp.example', emailConfirmed: false },
    ],
  });
  api = new SlackApi({ baseUrl: slack.apiBaseUrl, token: slack.token });
});

afterAll(async () => {
  await store?.close();
  await slack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const config = (over: Partial<SlackConfig> = {}): SlackConfig => ({
  botToken: slack.token,
  signingSecret: 'x'.repeat(32),
  channel: 'C0APPROVALS',
  apiBaseUrl: slack.apiBaseUrl,
  teamId: STANDIN_TEAM,
  users: {},
  mapBy: ['email'],
  ...over,
});
const map = (user: string, over: Partial<SlackConfig> = {}, now?: Date) =>
  slackPerson(user, { config: config(over), api, store, keySignIn: true, ...(now ? { now } : {}) });

describe("mapping a Slack user by users.info's email", () => {
  it('maps a confirmed member of the workspace to the SSO person with the email', async () => {
    expect(await map('U0ALICE001')).toMatchObject({
      ok: true,
      voter: { id: 'alice-0001', issuer: ALICE.issuer, subject: ALICE.subject },
      alsoKnownAs: ['alice@corp.example'],
    });
  });

  it('refuses a member of another workspace, a Slack Connect stranger and an unconfirmed email', async () => {
    expect(await map('U0OUTSIDE1')).toMatchObject({
      ok: false,
      code: 'SLACK_FOREIGN_USER',
      reason: expect.stringMatching(/workspace T0OTHERORG, not T0WARDEN1/),
    });
    expect(await map('U0STRANGE1')).toMatchObject({ ok: false, code: 'SLACK_FOREIGN_USER' });
    for (const user of ['U0NOCONF01', 'U0UNCONF01']) {
      expect(await map(user)).toMatchObject({
        ok: false,
        code: 'SLACK_USER_UNMAPPED',
        reason: expect.stringMatching(/alice@corp\.example is not confirmed/),
      });
    }
    // Without a workspace to trust (a config the schema refuses), nobody maps by email.
    expect(await map('U0ALICE001', { teamId: undefined })).toMatchObject({
      ok: false,
      code: 'SLACK_FOREIGN_USER',
    });
  });

  it('refuses an SSO person whose last sign-in is older than a dashboard session (8 h)', async () => {
    const later = new Date(Date.parse(ALICE.lastSignedInAt) + 8 * 3_600_000 + 1_000);
    expect(await map('U0ALICE001', {}, later)).toMatchObject({
      ok: false,
      code: 'SLACK_SIGN_IN_STALE',
      reason: expect.stringMatching(/sign in to Warden again/),
    });
  });
});
