import type { Engine } from '../src/engine/engine.js';

/**
 * Four hours of varied traffic from a few agents: allowed, completed, reviewed (some approved, some
 * left open), blocked by rule and by budget; 160 calls 97 s apart from `start` (`setTime` sets the
 * clock, a fake Date).
 */
export async function busyHours(engine: Engine, start: number, setTime: (ms: number) => void): Promise<void> {
  let t = start;
  for (let i = 0; i < 160; i += 1) {
    t += 97_000;
    setTime(t);
    const session = `busy-${i % 7}`;
    const agent = i % 5 === 0 ? 'looper' : 'pay-agent';
    const tool = i % 11 === 0 ? 'db.drop' : agent === 'looper' ? `tool.${i % 3}` : 'pay';
    const amount = i % 6 === 0 ? 500 : 20;
    const r = await engine.check({
      agent,
      tool,
      args: { amount },
      session,
      ...(i % 4 === 0 ? { triggeredBy: `user-${i % 3}` } : {}),
    });
    if (r.effect === 'allow') await engine.complete(r.callId, { status: 'ok' });
    if (r.effect === 'review' && r.approval && i % 12 === 0) {
      await engine.approvals.vote(r.approval.id, { kind: 'human', id: 'lee', role: 'approver' }, 'approve');
    }
  }
}
