import { type CompiledPolicy, compilePolicy } from '@warden/core';
import { openEngine } from '../src/engine/open-engine.js';
import { generateKeyRing, type KeyRing } from '../src/keys/key-ring.js';
import type { StoreFixture } from './store-fixtures.js';

/** A small policy with each tier, a redacted field and a condition on arguments. */
export const TEST_POLICY_YAML = `
name: engine tests
redaction:
  fields: [customerSsn]
agents:
  billing-agent:
    rules:
      - id: refunds-small
        effect: allow
        tools: [stripe.refund]
        when: args.amount <= 100
      - id: refunds-large
        effect: review
        tools: [stripe.refund]
        when: args.amount > 100
      - id: no-drops
        effect: block
        tools: [db.drop]
      - id: echo
        effect: allow
        tools: [echo]
`;

/** The test policy, compiled. */
export function testPolicy(yaml = TEST_POLICY_YAML): CompiledPolicy {
  return compilePolicy(yaml, 'test-policy.yaml');
}

/** An engine on the fixture's store with fresh keys (its public key registered, as openEngine does). */
export async function testEngine(
  fx: StoreFixture,
  options: { keys?: KeyRing; policy?: CompiledPolicy; everyEvents?: number } = {},
): Promise<Awaited<ReturnType<typeof openEngine>>> {
  return openEngine({
    store: fx.store,
    keys: options.keys ?? generateKeyRing(),
    policy: options.policy ?? testPolicy(),
    checkpoint: { everyEvents: options.everyEvents ?? 10_000, everyMs: 3_600_000 },
  });
}
