import type { ApprovalView } from '@warden/api';
import { isWardenError, type WardenError } from '@warden/core';
import { type ApprovalPending, createWarden, type GovernedCall, type Warden } from '@warden/sdk';
import type { CliIo } from '../cli-io.js';
import { apiClient } from './api-client.js';
import { DEMO_PEOPLE, DEMO_SESSIONS } from './demo-cast.js';
import { DemoNarrator, type StepOutcome } from './demo-narrator.js';

/** What the scripted agent needs: the demo server, its agent key, and who approves its refund. */
export interface DemoScriptOptions {
  readonly url: string;
  readonly agentKey: string;
  readonly io: CliIo;
  /** Aborted on Ctrl-C: a held call is withdrawn and the script stops. */
  readonly signal: AbortSignal;
  /** How long the refund waits for a person before it gives up (ms). */
  readonly approvalTimeoutMs: number;
  /** Called once the refund is held for review (the unattended approver hooks in here). */
  readonly onReview?: (pending: ApprovalPending) => void;
  /** Say how to approve in the dashboard (false when nobody is expected to). */
  readonly askHuman: boolean;
  /** Each session's task token (startDemoTasks): sent with every call in that session. */
  readonly taskTokens: Readonly<Record<string, string>>;
}

/** How the story went, for the closing summary and the tests. */
export interface DemoStory {
  readonly steps: readonly StepOutcome[];
  readonly approval?: { readonly id: string; readonly status: string; readonly decidedBy: string | null };
  /** Sessions the script left paused (by the budget, by the breaker). */
  readonly paused: readonly string[];
}

/** The demo stops here when Ctrl-C arrives mid-script. */
export class DemoAborted extends Error {}

/** Most calls a loop makes before the demo concludes its budget or breaker never stopped it. */
const LOOP_GUARD = 25;

/**
 * The scripted agent: a support agent working a ticket through the SDK over HTTP, exactly as a real agent
 * would. Its steps show each outcome once: allowed reads, a refund held for a person, a blocked call, a
 * session budget running out and a retry loop stopped by the breaker.
 */
export async function runDemoScript(o: DemoScriptOptions): Promise<DemoStory> {
  const warden = await createWarden({ url: o.url, key: o.agentKey, fetch: withTaskTokens(o.taskTokens) });
  const say = new DemoNarrator(o.io);
  try {
    const approval = await ticketWork(warden, say, o);
    const paused: string[] = [];
    if (await research(warden, say, o)) paused.push(DEMO_SESSIONS.research);
    if (await retryLoop(warden, say, o)) paused.push(DEMO_SESSIONS.runaway);
    return { steps: say.steps, ...(approval ? { approval } : {}), paused };
  } finally {
    await warden.close();
  }
}

/**
 * A fetch that sends each call's task token: the token of the session the call names. Who triggered
 * the call (the requester) is the token's, so the calls claim nobody themselves.
 */
function withTaskTokens(tokens: Readonly<Record<string, string>>): typeof fetch {
  return (input, init) => {
    const session =
      typeof init?.body === 'string' ? (JSON.parse(init.body) as { session?: unknown }).session : undefined;
    const token = typeof session === 'string' ? tokens[session] : undefined;
    if (!token) return fetch(input, init);
    return fetch(input, {
      ...init,
      headers: { ...(init?.headers as Record<string, string>), 'warden-task-token': token },
    });
  };
}

/** Reads, a small refund, a large one held for review, and a blocked table drop. */
async function ticketWork(warden: Warden, say: DemoNarrator, o: DemoScriptOptions) {
  const session = DEMO_SESSIONS.ticket;
  say.chapter(`${DEMO_PEOPLE.requester} asks demo-agent to sort out ticket 4711 (session ${session}):`);
  const context = { session };
  say.step(await attempt(warden, { tool: 'tickets.read', args: { ticket: 4711 } }, o, context));
  say.step(await attempt(warden, { tool: 'crm.customer.get', args: { customer: 'cus_8812' } }, o, context));
  say.step(await attempt(warden, { tool: 'billing.refund', args: { ticket: 4711, amount: 20 } }, o, context));
  const approval = await heldRefund(warden, say, o, session);
  say.step(await attempt(warden, { tool: 'db.drop_table', args: { table: 'customers' } }, o, context));
  return approval;
}

/**
 * A refund over $50: held for review until a person (or the --auto-approve stand-in) decides, then run
 * as the approved call.
 */
async function heldRefund(warden: Warden, say: DemoNarrator, o: DemoScriptOptions, session: string) {
  const call = { tool: 'billing.refund', args: { ticket: 4711, amount: 120 } };
  const ticker = say.waiting();
  let held: { id: string; shown: Promise<void> } | undefined;
  const started = Date.now();
  const refund = await attempt(warden, call, o, {
    session,
    onApprovalPending: (pending) => {
      const shown = ruleOf(o, pending.approvalId).then((ruleId) => {
        say.held({ ...pending, ruleId }, call, o.askHuman ? o.url : undefined);
        o.onReview?.(pending);
        ticker.start();
      });
      held = { id: pending.approvalId, shown };
    },
  }).finally(() => ticker.stop());
  if (!held) {
    say.step(refund);
    return undefined;
  }
  await held.shown;
  const state = await warden.waitForApproval(held.id, { timeoutMs: 0 });
  say.step(refund, { decidedBy: state.decidedBy ?? null, afterMs: Date.now() - started });
  return { id: held.id, status: state.status, decidedBy: state.decidedBy ?? null };
}

/** The rule that held the call, as its approval request names it (an agent may read its own requests). */
async function ruleOf(o: DemoScriptOptions, approvalId: string): Promise<string | null> {
  try {
    const a = await apiClient({ url: o.url, key: o.agentKey }).get<ApprovalView>(
      `/v1/approvals/${encodeURIComponent(approvalId)}`,
    );
    return a.ruleId;
  } catch {
    return null; // the line goes without its rule; the story does not depend on it
  }
}

/** Research in its own session until the session budget of calls runs out and pauses it. */
async function research(warden: Warden, say: DemoNarrator, o: DemoScriptOptions): Promise<boolean> {
  const session = DEMO_SESSIONS.research;
  say.chapter(`It researches refund rules, page after page (session ${session}; budget: 8 calls a session):`);
  for (let page = 1; page <= LOOP_GUARD; page++) {
    const out = await attempt(warden, { tool: 'web.search', args: { q: 'refund rules', page } }, o, {
      session,
    });
    if (out.effect === 'allow') {
      say.step(out);
      continue;
    }
    say.step(out);
    // A paused session refuses everything until a person resumes it: one more try shows it.
    say.step(
      await attempt(warden, { tool: 'web.search', args: { q: 'refund rules', page: page + 1 } }, o, {
        session,
      }),
    );
    return out.code === 'BUDGET_EXCEEDED';
  }
  return false;
}

/**
 * A retry loop gone wrong: the agent polls a ticket's status, the same call over and over, until the
 * repeat breaker trips and pauses the session.
 */
async function retryLoop(warden: Warden, say: DemoNarrator, o: DemoScriptOptions): Promise<boolean> {
  const session = DEMO_SESSIONS.runaway;
  say.chapter(`A bug makes it poll one ticket's status in a loop (session ${session}; breaker: 5 repeats):`);
  const call = { tool: 'tickets.status', args: { ticket: 4711 } };
  for (let i = 1; i <= LOOP_GUARD; i++) {
    const out = await attempt(warden, call, o, { session });
    say.step(out);
    if (out.effect !== 'allow') return out.code === 'RUNAWAY_DETECTED';
  }
  return false;
}

/** One governed call through `warden.run`: its outcome, with the rule and reasons, never an exception. */
async function attempt(
  warden: Warden,
  call: GovernedCall,
  o: DemoScriptOptions,
  options: { session: string; onApprovalPending?: (p: ApprovalPending) => void },
): Promise<StepOutcome> {
  throwIfAborted(o.signal);
  try {
    return await warden.run(
      call,
      async (ok) => ({
        call,
        effect: 'allow' as const,
        ruleId: ok.decision.ruleId,
        reasons: ok.decision.reasons,
        ...(ok.approvalId ? { approvalId: ok.approvalId } : {}),
      }),
      {
        context: { session: options.session },
        signal: o.signal,
        approvalTimeoutMs: o.approvalTimeoutMs,
        ...(options.onApprovalPending ? { onApprovalPending: options.onApprovalPending } : {}),
      },
    );
  } catch (err) {
    if (!isWardenError(err)) throw err;
    if (err.code === 'CALL_ABORTED') throw new DemoAborted('stopped by Ctrl-C');
    return refused(call, err);
  }
}

/** A refusal as a step outcome: the engine's code, else the rule that blocked it. */
function refused(call: GovernedCall, err: WardenError): StepOutcome {
  const d = err.details as { ruleId?: string | null; reasons?: string[]; approvalId?: string };
  return {
    call,
    effect: 'block',
    code: err.code,
    ruleId: d.ruleId ?? null,
    reasons: d.reasons ?? [err.message],
    ...(d.approvalId ? { approvalId: d.approvalId } : {}),
  };
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new DemoAborted('stopped by Ctrl-C');
}
