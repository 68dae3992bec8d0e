import type { ServerContext } from '../server-context.js';

export interface ApprovalState {
  readonly status: 'pending' | 'approved' | 'denied' | 'expired';
  readonly decidedBy?: string;
}

/**
 * Waits up to `ms` for the `approval.decided` event of a call, from any instance (the hub tails the shared
 * chain), and reports the state. The approvals capability writes those events; until a decision arrives
 * the request stays pending.
 */
export function waitForApproval(ctx: ServerContext, callId: string, ms: number): Promise<ApprovalState> {
  return new Promise((resolve) => {
    const stop = ctx.hub.onEvent(
      (e) => {
        if (e.type !== 'approval.decided' || e.callId !== callId) return;
        const data = (e.data ?? {}) as { outcome?: string };
        const status = data.outcome === 'approved' || data.outcome === 'expired' ? data.outcome : 'denied';
        finish({ status, decidedBy: e.actor.id });
      },
      { keepAlive: true },
    );
    const timer = setTimeout(() => finish({ status: 'pending' }), ms);
    function finish(state: ApprovalState) {
      clearTimeout(timer);
      stop();
      resolve(state);
    }
  });
}
