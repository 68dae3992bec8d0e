import type { ApprovalRecord } from '@warden/core';
import type { ServerContext } from '../server-context.js';

/**
 * Waits up to `ms` for an approval request to leave `pending`, and returns it as it then stands. The hub
 * tails the shared chain, woken by local commits and, on PostgreSQL, by LISTEN/NOTIFY from other
 * instances, so the waiter resumes within milliseconds of the decision wherever it was made. The state is
 * re-read after listening starts, so a decision landing in between is never missed.
 */
export async function waitForApproval(
  ctx: ServerContext,
  approvalId: string,
  ms: number,
  signal?: AbortSignal,
): Promise<ApprovalRecord> {
  let wake: () => void = () => {};
  const woken = new Promise<void>((resolve) => {
    wake = resolve;
  });
  const stop = ctx.hub.onEvent(
    (e) => {
      if (
        (e.type === 'approval.decided' || e.type === 'approval.voided') &&
        e.data?.approvalId === approvalId
      ) {
        wake();
      }
    },
    { keepAlive: true },
  );
  const timer = setTimeout(wake, ms);
  const abort = () => wake();
  signal?.addEventListener('abort', abort, { once: true });
  // Aborted before it began listening: the listener above would never fire.
  if (signal?.aborted) wake();
  try {
    const now = await ctx.engine.approvals.get(approvalId);
    if (now.status !== 'pending' || ms === 0) return now;
    await woken;
    return await ctx.engine.approvals.get(approvalId);
  } finally {
    clearTimeout(timer);
    stop();
    signal?.removeEventListener('abort', abort);
  }
}
