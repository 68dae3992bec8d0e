import { WardenError } from '../errors/warden-error.js';
import { confusableSkeleton } from './confusable-skeleton.js';
import { withoutBlanks } from './name-characters.js';

/**
 * Separation of duties: whoever asks can never decide. The stake of a request is the requesting agent,
 * every agent up its delegation chain and the human who triggered the task; none of them may approve,
 * deny, override or resume it, on any channel.
 */

/** Names compare ignoring case, spacing, compatibility forms and invisible characters: `Alice` is `alice`. */
export function samePrincipal(a: string, b: string): boolean {
  return normalName(a) === normalName(b);
}

/** The comparable form of a principal name. */
export function normalName(name: string): string {
  // Invisible characters (zero-width space, soft hyphen) would make `tina\u200b` a different person.
  return name
    .normalize('NFKC')
    .replace(/\p{Default_Ignorable_Code_Point}/gu, '')
    .trim()
    .toLowerCase();
}

/**
 * The forms in which separation of duties compares a name: the UTS #39 confusable skeleton with
 * combining marks removed, folded as `normalName` folds. `tоm` (Cyrillic о), `ｔｏｍ`, `to\u200bm` and `tóm`
 * all share a form with `tom`. Two forms, because the skeleton is case-sensitive: case folded first, `TOM`
 * meets `tom` (`m` → `rn` but `M` stays); the skeleton first, a Cyrillic capital `Т` meets `T` (its small
 * `т` looks like no Latin letter). Deliberately coarse: it also joins names that merely look alike
 * (`rn` and `m`, `I` and `l`), which can only refuse a decider who had no stake, never let a requester
 * decide. Stakes only: approver eligibility and vote counting keep `normalName`, so a look-alike never
 * passes for a listed approver.
 */
export function dutyForms(name: string): string[] {
  const folded = fixedForm(normalName(name));
  const raw = fixedForm(name);
  return raw === folded ? [folded] : [folded, raw];
}

/** Whether two names are the same person for separation of duties (they share a `dutyForms` form). */
export function sameDutyName(a: string, b: string): boolean {
  const forms = dutyForms(b);
  return dutyForms(a).some((f) => f !== '' && forms.includes(f));
}

/**
 * Skeleton, marks removed, folded, blanks removed; again until nothing changes (folding can make a new
 * look-alike). Blanks go before and after: a control, a space or a blank look-alike (`tom\u2800`,
 * `tom\u0085`, `t om`) draws as nothing a reader can tell from `tom`, and the skeleton maps some
 * characters to a space.
 */
function fixedForm(name: string): string {
  let s = withoutBlanks(name);
  for (let i = 0; i < 4; i++) {
    // Nonspacing and enclosing marks are drawn over the letter they follow and can be made all but
    // invisible; spacing marks (Mc) stand as their own glyph and are kept.
    const next = withoutBlanks(normalName(confusableSkeleton(s).replace(/[\p{Mn}\p{Me}]/gu, '')));
    if (next === s) break;
    s = next;
  }
  return s;
}

/** Who has a stake in a request or session: these can never decide it. */
export interface Stake {
  readonly agent: string;
  readonly triggeredBy: string | null;
  readonly delegationChain: readonly string[];
  /**
   * The verified identities behind the names (`identityKeys` forms): the initiator's issuer and subject
   * (a person an ID token named) or the key that vouched for them, and the key ids of the requesting
   * agent and of every agent of a token's chain. Compared exactly, whatever the names say.
   */
  readonly identities?: readonly string[];
}

/** Who acts, as far as it was verified: an IdP person (issuer and subject) and/or the key it used. */
export interface VerifiedWho {
  readonly issuer?: string | undefined;
  readonly subject?: string | undefined;
  readonly keyId?: string | undefined;
}

/**
 * The comparable forms of a verified identity: `idp <issuer> <subject>` for a person an identity provider
 * vouches for, `key <keyId>` for an API key. Exact strings: verified ids are not names, so no folding.
 */
export function identityKeys(who: VerifiedWho): string[] {
  return [
    ...(who.issuer && who.subject ? [`idp ${who.issuer} ${who.subject}`] : []),
    ...(who.keyId ? [`key ${who.keyId}`] : []),
  ];
}

/** Every name in a stake, in its `dutyForms` forms, without blanks: compare with `hasStake`. */
export function stakeholders(...stakes: readonly Stake[]): string[] {
  const names = stakes.flatMap((s) => [s.agent, s.triggeredBy ?? '', ...s.delegationChain]);
  return [...new Set(names.flatMap(dutyForms).filter((n) => n !== ''))];
}

/** Whether `name` is among `stake` (a `stakeholders` list), compared as separation of duties compares. */
export function hasStake(stake: readonly string[], name: string): boolean {
  return dutyForms(name).some((f) => stake.includes(f));
}

/**
 * APPROVAL_SELF_APPROVAL when `who` has a stake — by name (legacy names, by their confusable skeleton) or
 * by verified identity (issuer and subject, key id), whatever name it acts under now; undefined otherwise.
 * `what` names the act in the message ("decide it", "resume session s1").
 */
export function selfApproval(
  who: { readonly id: string } & VerifiedWho,
  what: string,
  ...stakes: readonly Stake[]
): WardenError | undefined {
  const mine = identityKeys(who);
  if (mine.length > 0 && stakes.some((s) => s.identities?.some((i) => mine.includes(i)))) {
    return new WardenError(
      'APPROVAL_SELF_APPROVAL',
      `separation of duties: ${who.id} is, by verified identity (${mine.join(', ')}), the initiator or an agent of this task, so cannot ${what}; another person must`,
      { principal: who.id, verified: true },
    );
  }
  if (!hasStake(stakeholders(...stakes), who.id)) return undefined;
  const role = stakes.some((s) => sameDutyName(s.agent, who.id))
    ? 'is the requesting agent'
    : stakes.some((s) => s.triggeredBy !== null && sameDutyName(s.triggeredBy, who.id))
      ? 'triggered the task'
      : 'is in the delegation chain';
  return new WardenError(
    'APPROVAL_SELF_APPROVAL',
    `separation of duties: ${who.id} ${role}, so cannot ${what}; another person must`,
    { principal: who.id },
  );
}
