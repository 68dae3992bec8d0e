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
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < count; i++) {
    const p: Promise<unknown> = submit(benchEvent(i, instance)).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}
