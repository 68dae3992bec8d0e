import type { Voter } from '@warden/core';
import type { ApiKeyRecord, PersonRecord, Store } from '@warden/engine';
import type { SlackApi } from './slack-api.js';
import type { SlackConfig } from './slack-config.js';

/** Who a Slack user is in Warden, or why they are nobody. */
export type SlackPerson =
  | { readonly ok: true; readonly voter: Voter; readonly how: string }
  | { readonly ok: false; readonly reason: string };

/** Voting roles first: a person holding an approver key and an auditor key votes as approver. */
const ROLE_ORDER = ['admin', 'approver', 'auditor'];

/**
 * Maps a Slack user to a Warden person, trying `config.mapBy` in order: `map` (the explicit users map,
 * Slack user id → person name) and `email` (Slack's users.info → the profile's email → an SSO person with
 * that email, else a human API key whose principal it is). The person's role comes from their record or
 * key, never from Slack. A name the map gives is looked up the same way (a key, or an SSO person by email).
 */
export async function slackPerson(
  userId: string,
  deps: {
    config: SlackConfig;
    api: SlackApi;
    store: Store;
    /** false when people may sign in only through SSO (`auth.keySignIn: false`): a human key maps no one. */
    keySignIn: boolean;
  },
): Promise<SlackPerson> {
  const tried: string[] = [];
  for (const how of deps.config.mapBy) {
    if (how === 'map') {
      const name = deps.config.users[userId];
      if (name === undefined) {
        tried.push('not in the slack.users map');
        continue;
      }
      // An explicit mapping is final: falling through to the email could make them someone else.
      return personNamed(deps, name, `slack.users maps ${userId} to ${name}`);
    }
    const email = await slackEmail(deps.api, userId);
    if (!email.ok) {
      tried.push(email.reason);
      continue;
    }
    const found = await personNamed(deps, email.email, `Slack email ${email.email}`);
    if (found.ok) return found;
    tried.push(found.reason);
  }
  return { ok: false, reason: `Slack user ${userId} is not a Warden person: ${tried.join('; ')}` };
}

/**
 * The person `name` names: an SSO person (by principal name, then by email), else, while people may sign
 * in with keys, the human key of that principal with the strongest role.
 */
async function personNamed(
  deps: { store: Store; keySignIn: boolean },
  name: string,
  how: string,
): Promise<SlackPerson> {
  const sso = await ssoPerson(deps.store, name);
  if (sso) {
    if (!sso.role) return { ok: false, reason: `${how}, an SSO person with no Warden role` };
    return {
      ok: true,
      how: `${how} (SSO: ${sso.issuer})`,
      voter: {
        kind: 'human',
        id: sso.name,
        role: sso.role,
        issuer: sso.issuer,
        subject: sso.subject,
        groups: [...sso.approverGroups],
      },
    };
  }
  if (!deps.keySignIn) {
    return { ok: false, reason: `${how}, who has no SSO record (people sign in only through SSO here)` };
  }
  const key = await humanKey(deps.store, name);
  if (!key) return { ok: false, reason: `${how}, who has no SSO record and no active human API key` };
  return {
    ok: true,
    how: `${how} (key ${key.id})`,
    voter: { kind: 'human', id: key.principal, role: key.role, keyId: key.id },
  };
}

/** An SSO person by principal name, or by email. */
async function ssoPerson(store: Store, name: string): Promise<PersonRecord | undefined> {
  return (
    (await store.personByName(name)) ?? (name.includes('@') ? await store.personByEmail(name) : undefined)
  );
}

/** The active human key of `principal` (case-insensitive) with the strongest role, the newest first. */
async function humanKey(store: Store, principal: string): Promise<ApiKeyRecord | undefined> {
  const now = new Date().toISOString();
  const wanted = principal.normalize('NFKC').toLowerCase();
  const keys = (await store.apiKeys()).filter(
    (k) =>
      k.principalKind === 'human' &&
      k.revokedAt === null &&
      (k.expiresAt === null || k.expiresAt > now) &&
      k.principal.normalize('NFKC').toLowerCase() === wanted,
  );
  keys.sort(
    (x, y) =>
      rank(x.role) - rank(y.role) || (x.createdAt < y.createdAt ? 1 : x.createdAt > y.createdAt ? -1 : 0),
  );
  return keys[0];
}

function rank(role: string): number {
  const i = ROLE_ORDER.indexOf(role);
  return i === -1 ? ROLE_ORDER.length : i;
}

/** users.info → the user's confirmed profile email; a bot, a deactivated user or no email is no one. */
async function slackEmail(
  api: SlackApi,
  userId: string,
): Promise<{ ok: true; email: string } | { ok: false; reason: string }> {
  const r = await api.call('users.info', { user: userId }, { form: true });
  if (!r.ok) return { ok: false, reason: `Slack's users.info failed (${r.error})` };
  const user = r.body?.user as
    | {
        id?: unknown;
        deleted?: unknown;
        is_bot?: unknown;
        is_email_confirmed?: unknown;
        profile?: { email?: unknown };
      }
    | undefined;
  if (!user || user.id !== userId)
    return { ok: false, reason: "Slack's users.info answered for another user" };
  if (user.deleted === true) return { ok: false, reason: 'the Slack user is deactivated' };
  if (user.is_bot === true) return { ok: false, reason: 'the Slack user is a bot' };
  const email = user.profile?.email;
  if (typeof email !== 'string' || email === '') {
    return { ok: false, reason: 'Slack shows no email for the user (the app needs users:read.email)' };
  }
  if (user.is_email_confirmed === false)
    return { ok: false, reason: `the Slack email ${email} is not confirmed` };
  return { ok: true, email };
}
