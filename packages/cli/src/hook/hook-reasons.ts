/**
 * What the hook tells the model (a deny's reason) and the developer (stderr progress), worded so the
 * model knows what happened and what to do next: never retry around a block, retry the same call
 * once a person approves it.
 */
import type { ApprovalState, CallDecision } from '@warden/sdk';

/** A Warden call as the hook sends it. */
export interface HookCall {
  readonly tool: string;
  readonly args: Record<string, unknown>;
  readonly labels: Record<string, string>;
}

/** Claude Code caps a decision's reason at 2,000 characters; stay well inside that for every assistant. */
const MAX_REASON = 1_500;

/** `shell.exec \`ls -la\``: the tool and the one argument a person recognises it by. */
export function describeCall(call: HookCall): string {
  for (const field of ['command', 'path', 'url', 'query', 'pattern', 'subagent']) {
    const v = call.args[field];
    if (typeof v === 'string' && v !== '') return `${call.tool} \`${clip(v, 160)}\``;
  }
  return call.tool;
}

/** The deny reason of a call Warden blocked. */
export function blockedReason(call: HookCall, d: CallDecision): string {
  const why = d.reasons.length > 0 ? d.reasons.join('; ') : 'no rule of the policy allows it';
  const rule = [d.ruleId ? `rule ${d.ruleId}` : undefined, d.code].filter(Boolean).join(', ');
  return cap(
    `Warden blocked ${describeCall(call)}: ${why}${rule ? ` (${rule})` : ''}. ` +
      'Do not try to reach the same result another way; if it is needed, tell the user why Warden refused it.',
  );
}

/** Where a person approves a request: the dashboard page and the CLI command. */
export function approveHow(url: string, approvalId: string): string {
  return `${url}/approvals/${approvalId} or \`warden approvals approve ${approvalId} --url ${url}\``;
}

/** The deny reason of a call still awaiting approval when the hook stopped waiting. */
export function stillPendingReason(
  call: HookCall,
  url: string,
  a: { id: string; expiresAt: string },
  waitedS: number,
): string {
  return cap(
    `Warden is holding ${describeCall(call)} for a person's approval (request ${a.id}), still pending after ${waitedS} s. ` +
      `Ask the user to approve it at ${approveHow(url, a.id)}, then retry exactly the same call: once approved it goes through. ` +
      `The request stays open${a.expiresAt ? ` until ${a.expiresAt}` : ''}.`,
  );
}

/** The deny reason of a call whose approval request was denied, expired or withdrawn. */
export function notApprovedReason(call: HookCall, a: ApprovalState): string {
  const by = a.decidedBy ? ` by ${a.decidedBy}` : '';
  const why = a.reason ? `: ${a.reason}` : '';
  return cap(
    `Warden did not approve ${describeCall(call)}: request ${a.id} was ${a.status}${by}${why}. ` +
      (a.status === 'denied'
        ? 'Do not retry it; ask the user how to proceed.'
        : 'Retry the call to ask again.'),
  );
}

/** One stderr progress line of a review wait. */
export function waitingLine(
  call: HookCall,
  url: string,
  approvalId: string,
  waitedMs: number,
  limitMs: number,
): string {
  return (
    `warden: ${describeCall(call)} is waiting for approval ${approvalId} ` +
    `(${Math.round(waitedMs / 1000)} s of ${Math.round(limitMs / 1000)} s): approve at ${approveHow(url, approvalId)}\n`
  );
}

/** A URL in text: scheme, then userinfo (`user:pass@`), the rest, a query and a fragment. */
const URL_IN_TEXT =
  /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@`'"<>]*@)?([^\s?#`'"<>]*)(\?[^\s#`'"<>]*)?(#[^\s`'"<>]*)?/gi;

/**
 * `text` with every URL's userinfo, query and fragment removed: what the hook tells the model and
 * prints must never carry a credential put in WARDEN_URL (`https://user:pass@…`, `…?token=…`).
 */
export function redactUrls(text: string): string {
  return text.replace(
    URL_IN_TEXT,
    (_m, scheme: string, _user, rest: string, query = '', fragment = '') =>
      // Punctuation ending the sentence is not part of a query or fragment: it stays.
      `${scheme}${rest}${/[.,:;!?)\]]+$/.exec(`${query}${fragment}`)?.[0] ?? ''}`,
  );
}

function clip(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

function cap(text: string): string {
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text;
}
