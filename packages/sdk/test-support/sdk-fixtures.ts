import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWardenError, type Voter, type WardenError } from '@warden/core';
import { createWarden } from '../src/create-warden.js';
import { EngineTransport } from '../src/engine-transport.js';
import type { Warden } from '../src/warden.js';
import type { WardenClientOptions } from '../src/warden-options.js';

/**
 * The policy the SDK and adapter tests run under: a support agent that may look orders up, needs a
 * human for refunds, may never delete customers, and has a token budget for its model calls.
 */
export const SDK_POLICY = `
name: sdk tests
approverGroups:
  leads: [lee, lina]
defaults:
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
agents:
  support-bot:
    budgets:
      - id: session-tokens
        metric: tokens
        limit: 5000
        scope: session
        window: session
    rules:
      - id: lookups
        effect: allow
        tools: [lookup_order, weather, "llm:*"]
      - id: refunds-need-a-lead
        effect: review
        tools: [refund]
        reason: refunds need a lead
        approval: { approvers: { groups: [leads] }, timeout: 10m }
      - id: ping-opens-after-a-second
        effect: review
        tools: [ping]
        reason: a lead may stop a ping within a second
        approval: { approvers: { groups: [leads] }, timeout: 1s, onTimeout: allow }
      - id: never-delete
        effect: block
        tools: [delete_customer]
        reason: customers are never deleted by an agent
`;

export const lee: Voter = { kind: 'human', id: 'lee', role: 'approver' };

/** A temp folder with the policy file, an embedded Warden on a real SQLite file in it, and cleanup. */
export interface EmbeddedFixture {
  readonly dir: string;
  readonly db: string;
  readonly policyFile: string;
  readonly warden: Warden;
  /** The engine behind the embedded client, for approving and reading the audit. */
  readonly engine: import('@warden/engine').Engine;
  close(): Promise<void>;
}

/** Opens an embedded Warden for agent `support-bot` on a fresh SQLite file. */
export async function embeddedWarden(
  policy = SDK_POLICY,
  options: WardenClientOptions & { agent?: string } = {},
): Promise<EmbeddedFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sdk-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, policy);
  const db = join(dir, 'warden.db');
  const warden = await createWarden({
    ...options,
    embedded: { db, policy: policyFile, agent: options.agent ?? 'support-bot' },
  });
  const engine = engineOf(warden);
  return {
    dir,
    db,
    policyFile,
    warden,
    engine,
    async close() {
      await warden.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The engine an embedded client runs on (tests reach it to approve and to read the audit). */
export function engineOf(warden: Warden): import('@warden/engine').Engine {
  const transport = warden.transport;
  if (!(transport instanceof EngineTransport)) throw new Error('not an embedded Warden');
  return transport.engine;
}

/** Every audit event of a call id, in chain order. */
export async function callEvents(engine: import('@warden/engine').Engine, callId: string) {
  const { parseAuditQuery } = await import('@warden/engine');
  return (await engine.store.queryAudit(parseAuditQuery({ callId, limit: 100 }))).records.map((r) => r.event);
}

/** Approves the first pending request of the agent once it appears (as lee, a lead). */
export async function approveWhenPending(
  engine: import('@warden/engine').Engine,
  voter: Voter = lee,
  decision: 'approve' | 'deny' = 'approve',
): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const page = await engine.approvals.list({ status: 'pending', limit: 10 });
    const first = page.approvals[0];
    if (first) {
      await engine.approvals.vote(
        first.id,
        voter,
        decision,
        decision === 'deny' ? { reason: 'not today' } : {},
      );
      return first.id;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no approval request appeared');
}

/** The WardenError a promise rejects with (any other outcome fails the test). */
export async function refusalOf(p: Promise<unknown>): Promise<WardenError> {
  try {
    await p;
  } catch (err) {
    if (isWardenError(err)) return err;
    throw err;
  }
  throw new Error('expected a WardenError');
}

/** How many events of a type a SQLite audit file holds, read on a connection of its own. */
export async function countEvents(db: string, type: string): Promise<number> {
  const { default: Database } = await import('better-sqlite3');
  const conn = new Database(db, { readonly: true });
  try {
    return (conn.prepare('SELECT count(*) AS n FROM audit_events WHERE type = ?').get(type) as { n: number })
      .n;
  } finally {
    conn.close();
  }
}
