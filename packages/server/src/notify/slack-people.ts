import type { Voter } from '@warden/core';
import type { ApiKeyRecord, PersonRecord, Store } from '@warden/engine';
import { SESSION_TTL_MS } from '../auth/dashboard-session.js';
import type { SlackApi } from './slack-api.js';
import type { SlackConfig } from './slack-config.js';

/** Who a Slack user is in Warden, or why they are nobody (`code` is what the audit records). */
export type SlackPerson =
  | {
      readonly ok: true;
      readonly voter: Voter;
      readonly how: string;
      /**
       * Every other name the same person goes by here (the Slack email, the principal of a human key with it,
       * the SSO person's name and email): separation of duties and the one-vote rule check each of them.
       */
      readonly alsoKnownAs: readonly string[];
    }
  | { readonly ok: false; readonly reason: string; readonly code: SlackRefusalCode };

/** Why a click maps to no one: not mapped, from outside the workspace, a stale SSO sign-in, an ambiguous email. */
export type SlackRefusalCode =
  | 'SLACK_USER_UNMAPPED'
  | 'SLACK_FOREIGN_USER'
  | 'SLACK_SIGN_IN_STALE'
  | 'SLACK_EMAIL_AMBIGUOUS';

/** Voting roles first: a person holding an approver key and an auditor key votes as approver. */
const ROLE_ORDER = ['admin', 'approver', 'auditor'];

/** Dependencies of the mapping. */
interface PeopleDeps {
  readonly config: SlackConfig;
  readonly api: SlackApi;
  readonly store: Store;
  /** false when people may sign in only through SSO (`auth.keySignIn: false`): a human key maps no one. */
  readonly keySignIn: boolean;
  /** Now, for the staleness of an SSO person's last sign-in. */
  readonly now?: Date;
}

/**
 * Maps a Slack user to a Warden person, trying `config.mapBy` in order: `map` (the explicit users map,
 * Slack user id → person name) and `email` (Slack's users.info → the profile's email → an SSO person with
 * that email, else a human API key whose principal it is). The person's role comes from their record or
 * key, never from Slack. A name the map gives is looked up the same way (a key, or an SSO person by email).
 * An SSO person's role is the one saved at their last sign-in, so one who has not signed in within a
 * dashboard session's lifetime is refused until they sign in again.
 */
export async function slackPerson(userId: string, deps: PeopleDeps): Promise<SlackPerson> {
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
    const email = await slackEmail(deps, userId);
    if (!email.ok) {
      // Someone from outside the workspace is refused outright, not tried another way.
      if (email.code) return { ok: false, reason: email.reason, code: email.code };
      tried.push(email.reason);
      continue;
    }
    const found = await personNamed(deps, email.email, `Slack email ${email.email}`);
    if (found.ok || found.code !== 'SLACK_USER_UNMAPPED') return found;
    tried.push(found.reason);
  }
  return {
    ok: false,
    reason: `Slack user ${userId} is not a Warden person: ${tried.join('; ')}`,
    code: 'SLACK_USER_UNMAPPED',
  };
}

/**
 * The person `name` names: an SSO person (by principal name, then by email), else, while people may sign
 * in with keys, the human key of that principal with the strongest role. Two SSO people with the email
 * are ambiguous: refused rather than guessed.
 */
async function personNamed(deps: PeopleDeps, name: string, how: string): Promise<SlackPerson> {
  const sso = await ssoPerson(deps.store, name);
  if (sso && 'ambiguous' in sso) {
    return {
      ok: false,
      code: 'SLACK_EMAIL_AMBIGUOUS',
      reason: `${how}, which ${sso.ambiguous} SSO people share (${sso.names.join(', ')}): Warden cannot tell which one clicked`,
    };
  }
  const aliases = new Set([name]);
  if (sso) {
    if (!sso.role)
      return { ok: false, code: 'SLACK_USER_UNMAPPED', reason: `${how}, an SSO person with no Warden role` };
    const now = (deps.now ?? new Date()).getTime();
    const last = Date.parse(sso.lastSignedInAt);
    if (!(now - last <= SESSION_TTL_MS)) {
      return {
        ok: false,
        code: 'SLACK_SIGN_IN_STALE',
        reason: `${how}, an SSO person last signed in at ${sso.lastSignedInAt}, more than ${SESSION_TTL_MS / 3_600_000} h ago: sign in to Warden again, so your role is read from the identity provider anew`,
      };
    }
    aliases.add(sso.name);
    if (sso.email) aliases.add(sso.email);
    // The same person's human key (their email as its principal) is them too, for separation of duties.
    if (deps.keySignIn) {
      for (const alias of [...aliases]) {
        const key = await humanKey(deps.store, alias);
        if (key) aliases.add(key.principal);
      }
    }
    aliases.delete(sso.name);
    return {
      ok: true,
      how: `${how} (SSO: ${sso.issuer})`,
      alsoKnownAs: [...aliases],
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
    return {
      ok: false,
      code: 'SLACK_USER_UNMAPPED',
      reason: `${how}, who has no SSO record (people sign in only through SSO here)`,
    };
  }
  const key = await humanKey(deps.store, name);
  if (!key) {
    return {
      ok: false,
      code: 'SLACK_USER_UNMAPPED',
      reason: `${how}, who has no SSO record and no active human API key`,
    };
  }
  aliases.delete(key.principal);
  return {
    ok: true,
    how: `${how} (key ${key.id})`,
    alsoKnownAs: [...aliases],
    voter: { kind: 'human', id: key.principal, role: key.role, keyId: key.id },
  };
}

/**
 * The SSO person `name` names: by principal name, else the one person with that email; several people
 * (by name and by email, or by email at several issuers or subjects) are ambiguous.
 */
async function ssoPerson(
  store: Store,
  name: string,
): Promise<PersonRecord | { ambiguous: number; names: string[] } | undefined> {
  const byName = await store.personByName(name);
  const byEmail = name.includes('@') ? await store.peopleByEmail(name) : [];
  const all = [...(byName ? [byName] : []), ...byEmail];
  const distinct = all.filter(
    (p, i) => all.findIndex((q) => q.issuer === p.issuer && q.subject === p.subject) === i,
  );
  if (distinct.length > 1) return { ambiguous: distinct.length, names: distinct.map((p) => p.name) };
  return distinct[0];
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

/**
 * users.info → the user's confirmed profile email. A bot, a deactivated user or no email is no one; a
 * member of another workspace (`team_id`), a Slack Connect stranger (`is_stranger`) or an email Slack has
 * not confirmed (a missing `is_email_confirmed` is not confirmed) is refused: email mapping trusts only
 * the admins of the app's own workspace.
 */
async function slackEmail(
  deps: PeopleDeps,
  userId: string,
): Promise<{ ok: true; email: string } | { ok: false; reason: string; code?: SlackRefusalCode }> {
  const r = await deps.api.call('users.info', { user: userId }, { form: true });
  if (!r.ok) return { ok: false, reason: `Slack's users.info failed (${r.error})` };
  const user = r.body?.user as
    | {
        id?: unknown;
        team_id?: unknown;
        deleted?: unknown;
        is_bot?: unknown;
        is_stranger?: unknown;
        is_email_confirmed?: unknown;
        enterprise_user?: { enterprise_id?: unknown };
        profile?: { email?: unknown };
      }
    | undefined;
  if (!user || user.id !== userId)
    return { ok: false, reason: "Slack's users.info answered for another user" };
  const { teamId, enterpriseId } = deps.config;
  if (user.is_stranger === true) {
    return {
      ok: false,
      code: 'SLACK_FOREIGN_USER',
      reason: 'the Slack user is from another organisation (Slack Connect)',
    };
  }
  if (teamId === undefined || user.team_id !== teamId) {
    return {
      ok: false,
      code: 'SLACK_FOREIGN_USER',
      reason: `the Slack user belongs to workspace ${String(user.team_id ?? '(none)')}, not ${teamId ?? '(slack.teamId is not set)'}`,
    };
  }
  if (enterpriseId !== undefined && user.enterprise_user?.enterprise_id !== undefined) {
    if (user.enterprise_user.enterprise_id !== enterpriseId) {
      return {
        ok: false,
        code: 'SLACK_FOREIGN_USER',
        reason: `the Slack user belongs to another Enterprise Grid organisation`,
      };
    }
  }
  if (user.deleted === true) return { ok: false, reason: 'the Slack user is deactivated' };
  if (user.is_bot === true) return { ok: false, reason: 'the Slack user is a bot' };
  const email = user.profile?.email;
  if (typeof email !== 'string' || email === '') {
    return { ok: false, reason: 'Slack shows no email for the user (the app needs users:read.email)' };
  }
  if (user.is_email_confirmed !== true)
    return { ok: false, reason: `the Slack email ${email} is not confirmed` };
  return { ok: true, email };
}
