import { WardenError } from '../errors/warden-error.js';

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

/** Who has a stake in a request or session: these can never decide it. */
export interface Stake {
  readonly agent: string;
  readonly triggeredBy: string | null;
  readonly delegationChain: readonly string[];
}

/** Every name in a stake, without blanks. */
export function stakeholders(...stakes: readonly Stake[]): string[] {
  const names = stakes.flatMap((s) => [s.agent, s.triggeredBy ?? '', ...s.delegationChain]);
  return [...new Set(names.filter((n) => n.trim() !== '').map(normalName))];
}

/**
 * APPROVAL_SELF_APPROVAL when `who` has a stake; undefined otherwise. `what` names the act in the message
 * ("decide it", "resume session s1").
 */
export function selfApproval(
  who: { readonly id: string },
  what: string,
  ...stakes: readonly Stake[]
): WardenError | undefined {
  const me = normalName(who.id);
  if (!stakeholders(...stakes).includes(me)) return undefined;
  const role = stakes.some((s) => normalName(s.agent) === me)
    ? 'is the requesting agent'
    : stakes.some((s) => s.triggeredBy !== null && normalName(s.triggeredBy) === me)
      ? 'triggered the task'
      : 'is in the delegation chain';
  return new WardenError(
    'APPROVAL_SELF_APPROVAL',
    `separation of duties: ${who.id} ${role}, so cannot ${what}; another person must`,
    { principal: who.id },
  );
}
