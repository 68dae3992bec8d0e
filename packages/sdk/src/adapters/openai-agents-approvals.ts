import type { RunContext, RunToolApprovalItem } from '@openai/agents';
import { notApprovedError } from '../call-errors.js';
import type { Warden } from '../warden.js';
import { type ApprovalState, approvalLetsCallRun } from '../warden-transport.js';
import { recordsOf, type WardenCallRecord } from './openai-agents-records.js';

/** The part of a `RunState` (any agent, any context) the approval step reads and decides on. */
export interface WardenRunState {
  getInterruptions(): RunToolApprovalItem[];
  approve(item: RunToolApprovalItem): void;
  reject(item: RunToolApprovalItem, options?: { message?: string }): void;
  readonly _context: RunContext<unknown>;
}

/** Options of `resolveWardenApprovals`. */
export interface ResolveWardenApprovalsOptions {
  /** How long to wait for the humans (default: the client's approval timeout); 0 only reads. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** How one Warden review of the run stands after `resolveWardenApprovals`. */
export interface WardenApprovalResolution {
  readonly item: RunToolApprovalItem;
  readonly toolCallId: string;
  readonly approvalId: string;
  /** approved / rejected: set on the state; pending: left undecided, ask again later. */
  readonly outcome: 'approved' | 'rejected' | 'pending';
  /** The request as Warden has it: who decided, and why. */
  readonly approval: ApprovalState;
}

/** What `resolveWardenApprovals` did with the run's interruptions. */
export interface WardenApprovalsResult {
  readonly resolutions: readonly WardenApprovalResolution[];
  /** Interruptions that are not Warden reviews (another tool's own approval): the app decides them. */
  readonly others: readonly RunToolApprovalItem[];
}

/**
 * The app's approval step: waits for each Warden review of an interrupted run to be decided by a human
 * in Warden (which checks who may approve), then approves or rejects it in the run's state. Resume the
 * run with the same state afterwards. A review still pending is left as it is, in the run and in Warden.
 */
export async function resolveWardenApprovals(
  warden: Warden,
  run: WardenRunState | { readonly state: WardenRunState },
  options: ResolveWardenApprovalsOptions = {},
): Promise<WardenApprovalsResult> {
  const state = 'state' in run ? run.state : run;
  const records = recordsOf(state._context);
  const others: RunToolApprovalItem[] = [];
  const waits: Promise<WardenApprovalResolution>[] = [];
  for (const item of state.getInterruptions()) {
    const toolCallId = item.rawItem.type === 'function_call' ? item.rawItem.callId : undefined;
    const record = toolCallId !== undefined ? records[toolCallId] : undefined;
    const approvalId = record?.decision.effect === 'review' ? record.decision.approval?.id : undefined;
    if (!record || toolCallId === undefined || approvalId === undefined) {
      others.push(item);
      continue;
    }
    waits.push(
      (async () => {
        const approval = await warden.waitForApproval(approvalId, options);
        const outcome = settle(state, item, record, approval);
        if (outcome === 'rejected') delete records[toolCallId];
        return { item, toolCallId, approvalId, outcome, approval };
      })(),
    );
  }
  return { resolutions: await Promise.all(waits), others };
}

/** Mirrors Warden's decision into the run: approved runs (and is redeemed then), anything else is refused. */
function settle(
  state: WardenRunState,
  item: RunToolApprovalItem,
  record: WardenCallRecord,
  approval: ApprovalState,
): WardenApprovalResolution['outcome'] {
  if (approval.status === 'pending') return 'pending';
  if (approvalLetsCallRun(approval)) {
    state.approve(item);
    return 'approved';
  }
  const refusal = notApprovedError({ tool: record.tool }, record.decision, approval);
  state.reject(item, { message: refusal.message });
  return 'rejected';
}
