/** What an unattended `warden demo --auto-approve` must print and leave in its database, for both demo tests. */
import type { AuditEvent } from '@warden/core';
import { openStore, verifyStore } from '@warden/engine';
import { expect } from 'vitest';

/** Every numbered step of the story, in order: the call, then its outcome (effect, rule or code). */
export const DEMO_STEPS: readonly RegExp[] = [
  /1\. tickets\.read \{"ticket":4711\} +allow +demo-reads/,
  /2\. crm\.customer\.get \{"customer":"cus_8812"\} +allow +demo-reads/,
  /3\. billing\.refund \{"ticket":4711,"amount":20\} +allow +demo-small-refund/,
  /4\. billing\.refund \{"ticket":4711,"amount":120\} +review +demo-refund-review — Refunds over \$50/,
  /→ approved by auto-approver@demo\.example after \d+ s: the refund ran \(allow, demo-refund-review\)/,
  /5\. db\.drop_table \{"table":"customers"\} +block +demo-no-drop — Agents never drop/,
  ...[1, 2, 3, 4, 5, 6, 7, 8].map(
    (page) =>
      new RegExp(`${page + 5}\\. web\\.search \\{"q":"refund rules","page":${page}\\} +allow +demo-reads`),
  ),
  /14\. web\.search \{"q":"refund rules","page":9\} +block +BUDGET_EXCEEDED — budget demo-session-calls/,
  /15\. web\.search \{"q":"refund rules","page":10\} +block +SESSION_PAUSED — session research-4711 is paused/,
  ...[16, 17, 18, 19, 20].map(
    (n) => new RegExp(`${n}\\. tickets\\.status \\{"ticket":4711\\} +allow +demo-reads`),
  ),
  /21\. tickets\.status \{"ticket":4711\} +block +RUNAWAY_DETECTED — runaway loop: tickets\.status called 6 times/,
];

/**
 * Asserts the story's lines appear in this order, and the closing guide after them; its commands start
 * with `warden` as the reader runs it (`npm run warden --` in the repository, `npx warden` installed).
 */
export function expectDemoOutput(out: string, warden = 'npm run warden --'): void {
  let from = 0;
  for (const line of DEMO_STEPS) {
    const m = line.exec(out.slice(from));
    expect(m, `${line} after offset ${from} in:\n${out}`).not.toBeNull();
    from += (m?.index ?? 0) + (m?.[0].length ?? 0);
  }
  expect(out).toMatch(
    /Approvals +(http:\/\/127\.0\.0\.1:\d+)?\/approvals\n +the \$120 refund: approved by auto-approver@demo\.example, then used/,
  );
  expect(out).toMatch(/Sessions +(http:\/\/127\.0\.0\.1:\d+)?\/sessions\?state=paused\n/);
  expect(out).toMatch(/\n +research-4711 and status-loop-4711 are paused: open one and press Resume/);
  for (const command of ['audit query', 'audit verify', 'report soc2', 'policy replay --policy'])
    expect(out).toContain(`${warden} ${command}`);
  expect(out).toMatch(/^ {2}approver {2}ana@demo\.example +wdn_[A-Za-z0-9_-]{43} /m);
  expect(out).toMatch(/^ {2}admin {5}admin +wdn_[A-Za-z0-9_-]{43} /m);
}

/** How many events of each type the demo records, exactly. */
const EVENT_COUNTS = {
  'key.added': 1,
  'policy.changed': 1,
  'api_key.created': 5, // the bootstrap admin, the agent, the approver, the --auto-approve stand-in, the portal
  'task.started': 3, // one task per session, started by the portal for the requester
  'call.decided': 22, // 21 numbered steps + the approved refund redeemed
  'call.completed': 17, // every call that ran
  'approval.requested': 1,
  'approval.voted': 1,
  'approval.decided': 1,
  'approval.used': 1,
  'budget.alert': 5, // 50 % in each session, 80 and 100 % in the research session
  'budget.exceeded': 1,
  'session.paused': 2,
  'breaker.tripped': 1,
};

/**
 * Asserts the demo's database holds exactly the expected trail: the approval approved by the stand-in
 * approver, the session paused by its budget, the breaker trip with its pause, the blocked call. The
 * chain and its checkpoints verify.
 */
export async function expectDemoTrail(db: string): Promise<void> {
  const store = await openStore(db);
  try {
    const events = (await store.readChain(0, 10_000)).map((r) => JSON.parse(r.body) as AuditEvent);
    const counts: Record<string, number> = {};
    for (const e of events) counts[e.type] = (counts[e.type] ?? 0) + 1;
    expect(counts).toEqual(EVENT_COUNTS);

    const decided = events.filter((e) => e.type === 'approval.decided');
    expect(decided.map((e) => [e.actor, (e.data as { outcome?: string }).outcome])).toEqual([
      [{ kind: 'human', id: 'auto-approver@demo.example', keyId: expect.any(String) }, 'approved'],
    ]);
    const paused = events.filter((e) => e.type === 'session.paused');
    expect(paused.map((e) => [e.session, (e.data as { code?: string }).code])).toEqual([
      ['research-4711', 'BUDGET_EXCEEDED'],
      ['status-loop-4711', 'RUNAWAY_DETECTED'],
    ]);
    const tripped = events.filter((e) => e.type === 'breaker.tripped');
    expect(tripped.map((e) => [e.session, (e.data as { breaker?: string }).breaker])).toEqual([
      ['status-loop-4711', 'repeat'],
    ]);
    const blocks = events
      .filter((e) => e.type === 'call.decided' && e.decision?.effect === 'block')
      .map((e) => [e.session, e.tool, e.decision?.code ?? e.decision?.ruleId]);
    expect(blocks).toEqual([
      ['ticket-4711', 'db.drop_table', 'demo-no-drop'],
      ['research-4711', 'web.search', 'BUDGET_EXCEEDED'],
      ['research-4711', 'web.search', 'SESSION_PAUSED'],
      ['status-loop-4711', 'tickets.status', 'RUNAWAY_DETECTED'],
    ]);
    for (const e of events.filter((x) => x.type === 'call.decided'))
      expect(e.triggeredBy, `${e.tool} in ${e.session}`).toBe('tom@demo.example');

    const report = await verifyStore(store);
    expect(report.ok, JSON.stringify(report)).toBe(true);
    expect(report.unsignedTail).toBe(0); // the shutdown signed a final checkpoint
  } finally {
    await store.close();
  }
}
