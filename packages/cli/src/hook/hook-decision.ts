/**
 * The `pre` of one native tool use: every Warden call it maps to is checked first (or, when the same
 * call was held before, its remembered approval request looked at); any block denies at once and
 * withdraws the reviews the others opened; otherwise each review is waited for, up to one deadline
 * for the whole tool use, and an approved one is redeemed. Any call not allowed denies the tool use.
 */
import { canonicalJson, isWardenError } from '@warden/core';
import {
  type ApprovalState,
  approvalLetsCallRun,
  type CallDecision,
  type WardenTransport,
} from '@warden/sdk';
import type { HookConfig } from './hook-config.js';
import { PROGRESS_EVERY_MS } from './hook-config.js';
import {
  blockedReason,
  type HookCall,
  notApprovedReason,
  stillPendingReason,
  waitingLine,
} from './hook-reasons.js';
import type { HookState, PendingApproval } from './hook-state.js';

/** What deciding needs: the server, the settings, the session's state, and stderr for progress. */
export interface DecideDeps {
  readonly transport: WardenTransport;
  readonly config: HookConfig;
  readonly state: HookState;
  /** The assistant's session id: the calls' session unless a task token gives one. */
  readonly session: string;
  readonly progress: (line: string) => void;
  /** Set once Warden has answered anything in this run (fail-open never applies after that). */
  answered: boolean;
}

/** The outcome of a tool use's calls: allowed with their ids, or refused with a reason for the model. */
export type PreOutcome = { kind: 'allow'; callIds: string[] } | { kind: 'deny'; reason: string };

type Look =
  | { kind: 'allowed'; call: HookCall; callId: string }
  /** `open`: still awaiting its approval when the wait ended (the request is kept for a retry). */
  | { kind: 'refused'; call: HookCall; reason: string; open?: boolean }
  | { kind: 'held'; call: HookCall; approvalId: string; session: string; expiresAt: string };

/** Decides every call of one tool use (see the module comment). */
export async function decideCalls(calls: readonly HookCall[], deps: DecideDeps): Promise<PreOutcome> {
  const looks: Look[] = [];
  for (const call of calls) looks.push(await firstLook(call, deps));
  const refused = looks.filter((l) => l.kind === 'refused');
  if (refused.length > 0) {
    await abandon(looks, deps, 'another part of the same tool use was refused');
    return { kind: 'deny', reason: refused.map((r) => r.reason).join('\n') };
  }
  // One deadline for the whole tool use. A request denied ends it at once (the others are withdrawn);
  // requests still open at the deadline are all kept, each named in the answer, for a retry to redeem.
  const deadline = Date.now() + deps.config.reviewTimeoutMs;
  const settled: Look[] = [];
  for (const [i, look] of looks.entries()) {
    const s = look.kind === 'held' ? await awaitHeld(look, deadline, deps) : look;
    if (s.kind === 'refused' && !s.open) {
      await abandon(
        [...settled, ...looks.slice(i + 1)],
        deps,
        'another part of the same tool use was refused',
      );
      return { kind: 'deny', reason: s.reason };
    }
    settled.push(s);
  }
  const open = settled.filter((l) => l.kind === 'refused');
  if (open.length > 0) {
    await abandon(settled, deps, 'another part of the same tool use is still awaiting approval', false);
    return { kind: 'deny', reason: open.map((l) => (l.kind === 'refused' ? l.reason : '')).join('\n') };
  }
  return { kind: 'allow', callIds: settled.map((l) => (l as { callId: string }).callId) };
}

/**
 * The key a held call is remembered by: its tool and canonical arguments (the session is the folder's).
 * A shell command's `description` is the model's prose about it, not what runs, and a retry may word it
 * anew: it is left out, and the retry redeems with the arguments that were approved.
 */
export function callKey(call: HookCall): string {
  const { description: _prose, ...rest } = call.args;
  return canonicalJson({ tool: call.tool, args: call.tool === 'shell.exec' ? rest : call.args });
}

/** A remembered request as it stands now; undefined (and forgotten) when the server no longer knows it. */
async function lookUp(approvalId: string, deps: DecideDeps): Promise<ApprovalState | undefined> {
  try {
    const a = await deps.transport.waitForApproval(approvalId, 0, undefined, tokenOpt(deps));
    deps.answered = true;
    return a;
  } catch (err) {
    // Another server or a fresh database than the one that opened it: ask again.
    if (isWardenError(err) && err.code === 'APPROVAL_NOT_FOUND') return undefined;
    throw err;
  }
}

/** Checks a call, or picks up the approval request it was held under before. */
async function firstLook(call: HookCall, deps: DecideDeps): Promise<Look> {
  const key = callKey(call);
  const remembered = ownRecord(call, key, deps);
  const a = remembered ? await lookUp(remembered.approvalId, deps) : undefined;
  if (remembered && !a) deps.state.dropPending(key);
  if (remembered && a) {
    // Same key as the call about to run (checked above): only the description may differ.
    const asked = remembered.args ? { ...call, args: remembered.args } : call;
    if (a.status === 'pending')
      return {
        kind: 'held',
        call: asked,
        approvalId: a.id,
        session: remembered.session,
        expiresAt: a.expiresAt,
      };
    if (approvalLetsCallRun(a)) return redeem(asked, a.id, remembered.session, deps);
    deps.state.dropPending(key);
    if (a.status === 'denied') return { kind: 'refused', call, reason: notApprovedReason(call, a) };
    // Expired, withdrawn or already used: ask again.
  }
  const d = await check(call, deps);
  return fromDecision(call, d, deps);
}

/**
 * The remembered request of `call`, only when the record is for that very call. The state folder is
 * writable by anything running as the user (a `make` the policy allows), so a record filed under this
 * call's key but naming another call's approval and arguments would otherwise send the approved call's
 * arguments (which the server then accepts) while this one runs. Such a record is dropped and the call
 * checked afresh; the server itself binds an approval to the tool, arguments and session presented.
 */
function ownRecord(call: HookCall, key: string, deps: DecideDeps): PendingApproval | undefined {
  const remembered = deps.state.pending(key);
  if (!remembered) return undefined;
  const recorded = { ...call, tool: remembered.tool, args: remembered.args ?? call.args };
  if (typeof remembered.approvalId === 'string' && callKey(recorded) === key) return remembered;
  deps.state.dropPending(key);
  return undefined;
}

async function check(
  call: HookCall,
  deps: DecideDeps,
  approvalId?: string,
  session?: string,
): Promise<CallDecision> {
  // With a task token the token's session is the call's (sending another would be refused as a mismatch).
  const s = deps.config.taskToken === undefined ? { session: session ?? deps.session } : {};
  const d = await deps.transport.check(
    { tool: call.tool, args: call.args, labels: call.labels, ...s },
    { ...tokenOpt(deps), ...(approvalId ? { approvalId } : {}) },
  );
  deps.answered = true;
  return d;
}

function fromDecision(call: HookCall, d: CallDecision, deps: DecideDeps): Look {
  if (d.effect === 'allow') return { kind: 'allowed', call, callId: d.callId };
  if (d.effect === 'review' && d.approval) {
    // Remembered before waiting: if the assistant kills the hook mid-wait, a retry still finds it.
    deps.state.savePending(callKey(call), {
      approvalId: d.approval.id,
      session: d.session,
      tool: call.tool,
      args: call.args,
      openedAt: new Date().toISOString(),
    });
    return {
      kind: 'held',
      call,
      approvalId: d.approval.id,
      session: d.session,
      expiresAt: d.approval.expiresAt,
    };
  }
  return { kind: 'refused', call, reason: blockedReason(call, d) };
}

/** Redeems an approved request: the same call, same session, with its id. */
async function redeem(call: HookCall, approvalId: string, session: string, deps: DecideDeps): Promise<Look> {
  deps.state.dropPending(callKey(call));
  const d = await check(call, deps, approvalId, session);
  return d.effect === 'allow'
    ? { kind: 'allowed', call, callId: d.callId }
    : { kind: 'refused', call, reason: blockedReason(call, d) };
}

/** Waits for a held call's request until `deadline`, printing progress; then redeems or refuses. */
async function awaitHeld(
  look: Extract<Look, { kind: 'held' }>,
  deadline: number,
  deps: DecideDeps,
): Promise<Look> {
  const { call, approvalId } = look;
  const { url, reviewTimeoutMs } = deps.config;
  const started = Date.now();
  let a: ApprovalState = { id: approvalId, status: 'pending', expiresAt: look.expiresAt };
  deps.progress(waitingLine(call, url, approvalId, 0, reviewTimeoutMs));
  // At least one look, even past the deadline (an earlier call of the tool use may have used it up).
  for (;;) {
    const left = Math.max(0, deadline - Date.now());
    a = await deps.transport.waitForApproval(
      approvalId,
      Math.min(left, PROGRESS_EVERY_MS),
      undefined,
      tokenOpt(deps),
    );
    if (a.status !== 'pending' || deadline - Date.now() <= 0) break;
    deps.progress(waitingLine(call, url, approvalId, Date.now() - started, reviewTimeoutMs));
  }
  if (a.status === 'pending') {
    return {
      kind: 'refused',
      open: true,
      call,
      reason: stillPendingReason(
        call,
        url,
        { id: approvalId, expiresAt: a.expiresAt || look.expiresAt },
        Math.round(reviewTimeoutMs / 1000),
      ),
    };
  }
  if (approvalLetsCallRun(a)) return redeem(call, approvalId, look.session, deps);
  deps.state.dropPending(callKey(call));
  return { kind: 'refused', call, reason: notApprovedReason(call, a) };
}

/**
 * The tool use will not run: calls already allowed are completed as not run (so none stays open in
 * the audit) and, when `withdraw`, requests opened here are withdrawn (nobody needs to decide them).
 */
async function abandon(
  looks: readonly Look[],
  deps: DecideDeps,
  why: string,
  withdraw = true,
): Promise<void> {
  for (const l of looks) {
    if (l.kind === 'allowed')
      await deps.transport.complete(l.callId, { status: 'error', error: `not run: ${why}` });
    if (l.kind === 'held' && withdraw) {
      await deps.transport.cancelApproval(l.approvalId, why).catch(() => undefined);
      deps.state.dropPending(callKey(l.call));
    }
  }
}

function tokenOpt(deps: DecideDeps): { taskToken?: string } {
  return deps.config.taskToken === undefined ? {} : { taskToken: deps.config.taskToken };
}
