import type { Effect } from '@warden/api';
import type { ApprovalPending, GovernedCall } from '@warden/sdk';
import type { CliIo } from '../cli-io.js';
import { DEMO_PEOPLE } from './demo-cast.js';
import { wardenCommand } from './warden-command.js';

/** How one call of the scripted agent ended: what Warden decided, by which rule or code, and why. */
export interface StepOutcome {
  readonly call: GovernedCall;
  readonly effect: Effect;
  readonly ruleId?: string | null;
  /** The engine's or the SDK's code for a refusal (CALL_BLOCKED, BUDGET_EXCEEDED, APPROVAL_DENIED, …). */
  readonly code?: string;
  readonly reasons?: readonly string[];
  readonly approvalId?: string;
}

/** Who decided a held call, and how long the agent waited for it. */
export interface Resolution {
  readonly decidedBy?: string | null;
  readonly afterMs?: number;
}

/** A ticker that shows how long the agent has been waiting for a person. */
export interface WaitTicker {
  start(): void;
  stop(): void;
}

const CALL_WIDTH = 50;
const INDENT = ' '.repeat(7);
/** Without a terminal to redraw on, a line every this often says the agent is still waiting. */
const PLAIN_PROGRESS_MS = 30_000;

/** Prints the scripted agent's story: one numbered line per call, with its outcome. */
export class DemoNarrator {
  readonly #io: CliIo;
  readonly #steps: StepOutcome[] = [];
  #numbered = 0;

  constructor(io: CliIo) {
    this.#io = io;
  }

  /** Every outcome so far, in order. */
  get steps(): readonly StepOutcome[] {
    return this.#steps;
  }

  /** Starts a part of the story. */
  chapter(text: string): void {
    this.#io.out(`\n${text}\n`);
  }

  /** One call and its outcome; a held call that was then decided gets its decision on the next line. */
  step(out: StepOutcome, resolution?: Resolution): void {
    if (out.approvalId && resolution) {
      this.#steps.push(out);
      this.#io.out(`${INDENT}${resolved(out, resolution)}\n`);
      return;
    }
    this.#steps.push(out);
    this.#io.out(`${this.#number()}${callText(out.call)}${outcomeText(out)}\n`);
  }

  /**
   * The line of a call held for review, and what happens next: with `approveAt` (the dashboard's URL), how
   * a person approves it; without, that the --auto-approve stand-in will.
   */
  held(pending: ApprovalPending & { ruleId: string | null }, call: GovernedCall, approveAt?: string): void {
    this.#steps.push({
      call,
      effect: 'review',
      ruleId: pending.ruleId,
      reasons: pending.reasons,
      approvalId: pending.approvalId,
    });
    this.#io.out(
      `${this.#number()}${callText(call)}${pad('review', 7)}${pending.ruleId ?? '—'}${reasonText(pending.reasons)}\n`,
    );
    if (!approveAt) {
      this.#io.out(`${INDENT}the demo approver (--auto-approve) will approve it in a moment…\n`);
      return;
    }
    this.#io.out(
      [
        '',
        `${INDENT}┌─ Your turn. The agent waits for a person with the approver role; nothing has run yet.`,
        `${INDENT}│  Open ${approveAt}/approvals/${pending.approvalId} and sign in with the approver key of ${DEMO_PEOPLE.approver} (printed above),`,
        `${INDENT}│  then approve the $120 refund in the approvals inbox (or deny it: the story goes on).`,
        `${INDENT}└─ Or from another terminal:  WARDEN_URL=${approveAt} WARDEN_KEY=<approver key> ${wardenCommand()} approvals approve ${pending.approvalId}`,
        '',
        '',
      ].join('\n'),
    );
  }

  /** A ticker for the wait: redrawn every second on a terminal, else a line every 30 s. */
  waiting(): WaitTicker {
    let timer: NodeJS.Timeout | undefined;
    let started = 0;
    let stopped = false;
    const io = this.#io;
    return {
      start() {
        if (stopped || timer !== undefined) return;
        started = Date.now();
        const tty = io.errIsTty === true;
        timer = setInterval(
          () => {
            const s = Math.round((Date.now() - started) / 1000);
            if (tty) io.err(`\r       waiting for a decision… ${s} s `);
            else io.out(`${INDENT}still waiting for a decision (${s} s)…\n`);
          },
          tty ? 1_000 : PLAIN_PROGRESS_MS,
        );
        timer.unref();
      },
      stop() {
        stopped = true;
        if (timer === undefined) return;
        clearInterval(timer);
        timer = undefined;
        if (io.errIsTty === true) io.err('\r\x1b[K');
      },
    };
  }

  #number(): string {
    this.#numbered += 1;
    return `${String(this.#numbered).padStart(4)}. `;
  }
}

function callText(call: GovernedCall): string {
  return pad(`${call.tool} ${JSON.stringify(call.args ?? {})}`, CALL_WIDTH);
}

function outcomeText(out: StepOutcome): string {
  if (out.effect === 'allow') return out.ruleId ? `${pad('allow', 7)}${out.ruleId}` : 'allow';
  const why = out.code && out.code !== 'CALL_BLOCKED' ? out.code : (out.ruleId ?? 'no rule allows it');
  return `${pad('block', 7)}${why}${reasonText(out.reasons ?? [])}`;
}

function resolved(out: StepOutcome, r: Resolution): string {
  const by = r.decidedBy ? ` by ${r.decidedBy}` : '';
  const after = r.afterMs !== undefined ? ` after ${Math.max(1, Math.round(r.afterMs / 1000))} s` : '';
  if (out.effect === 'allow') return `→ approved${by}${after}: the refund ran (allow, ${out.ruleId ?? '—'})`;
  return `→ not approved${by}${after}: ${out.code}${reasonText(out.reasons ?? [])}`;
}

function reasonText(reasons: readonly string[]): string {
  return reasons.length > 0 ? ` — ${reasons.join('; ')}` : '';
}

function pad(text: string, width: number): string {
  return text.length >= width ? `${text} ` : text.padEnd(width);
}
