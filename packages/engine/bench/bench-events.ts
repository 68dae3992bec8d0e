import { type AuditEvent, uuidv7 } from '@warden/core';

/** A realistic call.decided event (~450 bytes of canonical JSON), as the engine writes one. */
export function benchEvent(i: number, instance = 'bench'): AuditEvent {
  const callId = uuidv7();
  return {
    id: callId,
    ts: new Date().toISOString(),
    type: 'call.decided',
    actor: { kind: 'agent', id: 'billing-agent' },
    instance,
    agent: 'billing-agent',
    session: `s-${i % 64}`,
    tool: 'stripe.refund',
    callId,
    args: { amount: i % 500, currency: 'USD', customer: `cus_${i % 9973}` },
    argsHmac: 'c'.repeat(64),
    decision: {
      effect: 'allow',
      policyEffect: 'allow',
      mode: 'enforce',
      ruleId: 'refunds-small',
      matchedRuleIds: ['refunds-small'],
      reasons: ['small refunds are fine'],
    },
    policyVersion: 'a'.repeat(64),
  };
}

/**
 * Appends `count` events through a group committer, keeping `window` units in flight as concurrent
 * callers would; resolves when every one is durable.
 */
export async function appendMany(
  submit: (e: AuditEvent) => Promise<unknown>,
  count: number,
  window = 8192,
  instance = 'bench',
): Promise<void> {
  // A counter and one waiter: Promise.race over the in-flight set would cost O(window) per event.
  let inFlight = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const settled = () => {
    inFlight -= 1;
    const w = wake;
    wake = undefined;
    w?.();
  };
  for (let i = 0; i < count && failure === undefined; i++) {
    inFlight += 1;
    submit(benchEvent(i, instance)).then(settled, (err: unknown) => {
      failure ??= err;
      settled();
    });
    while (inFlight >= window) await new Promise<void>((r) => (wake = r));
  }
  while (inFlight > 0) await new Promise<void>((r) => (wake = r));
  if (failure !== undefined) throw failure;
}
