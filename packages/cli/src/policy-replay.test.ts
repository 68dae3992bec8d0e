import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, parseAuditQuery } from '@warden/engine';
import { describe, expect, it } from 'vitest';
import { useAuditCopies } from '../test/cli-run.js';

/**
 * 20 calls decided under the audit fixtures' policy: refunds (calls 4 and 14) reviewed, drops (9 and 19)
 * blocked, the rest echo allowed.
 */
const fresh = useAuditCopies({ calls: 20, unsigned: 0 });

/** Early refunds allowed, later ones still reviewed, drops reviewed instead of blocked. */
const CANDIDATE = `
name: replay candidate
agents:
  billing-agent:
    rules:
      - { id: echo, effect: allow, tools: [echo] }
      - { id: refunds-early, effect: allow, tools: [stripe.refund], when: 'args.i < 10' }
      - { id: refunds, effect: review, tools: [stripe.refund], when: 'args.i >= 10' }
      - { id: drops-reviewed, effect: review, tools: [db.drop] }
`;

/** The call id of each recorded call, by its `args.i`, and the head of the chain. */
async function recorded(db: string): Promise<{ ids: Map<number, string>; head: unknown }> {
  const store = await openStore(db);
  try {
    const page = await store.queryAudit(parseAuditQuery({ type: 'call.decided', limit: 1000 }));
    const ids = new Map(
      page.records.map((r) => [(r.event.args as { i: number }).i, r.event.callId as string]),
    );
    return { ids, head: await store.head() };
  } finally {
    await store.close();
  }
}

describe('warden policy replay', () => {
  it('prints the changed decisions as a table, with totals and notes, and writes nothing', async () => {
    const { dir, db, run } = fresh();
    writeFileSync(join(dir, 'candidate.yaml'), CANDIDATE);
    const before = await recorded(db);
    const r = await run('policy', 'replay', '--policy', 'candidate.yaml', '--db', 'warden.db');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(
      /^replayed under "replay candidate" \([0-9a-f]{12}\): calls from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?Z to /,
    );
    expect(lines[1]).toBe(
      '20 recorded: 20 replayed, 17 unchanged, 3 changed (block→review 2, review→allow 1); 0 not compared, 0 uncertain',
    );
    expect(lines[3]).toMatch(/^was\s+now\s+calls\s+uncertain\s+first call$/);
    expect(lines[5]).toMatch(
      new RegExp(`^block no-drops\\s+review drops-reviewed\\s+2\\s+0\\s+${before.ids.get(9)}$`),
    );
    expect(lines[6]).toMatch(
      new RegExp(`^review refunds\\s+allow refunds-early\\s+1\\s+0\\s+${before.ids.get(4)}$`),
    );
    expect(r.out).toMatch(/\n- Compared per call: the policy's recorded decision/);
    expect((await recorded(db)).head).toEqual(before.head);
  });

  it('prints the report as JSON with --json, every changed call id in its group', async () => {
    const { dir, db, run } = fresh();
    writeFileSync(join(dir, 'candidate.yaml'), CANDIDATE);
    const { ids } = await recorded(db);
    const r = await run('policy', 'replay', '--policy', 'candidate.yaml', '--since', '1d', '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.totals).toMatchObject({ recorded: 20, replayed: 20, changed: 3, effectChanged: 3 });
    expect(report.changes).toMatchObject([
      {
        from: { effect: 'block', ruleId: 'no-drops' },
        to: { effect: 'review', ruleId: 'drops-reviewed' },
        count: 2,
        samples: [{ callId: ids.get(9) }, { callId: ids.get(19) }],
      },
      {
        from: { effect: 'review', ruleId: 'refunds' },
        to: { effect: 'allow', ruleId: 'refunds-early' },
        count: 1,
        samples: [{ callId: ids.get(4), tool: 'stripe.refund', agent: 'billing-agent' }],
      },
    ]);
  });

  it('says so when nothing would change, and narrows to one agent', async () => {
    const { dir, run } = fresh();
    writeFileSync(join(dir, 'candidate.yaml'), CANDIDATE);
    const r = await run('policy', 'replay', '--policy', 'candidate.yaml', '--agent', 'stranger');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^replayed under "replay candidate" \(\w+\): calls of agent stranger from /);
    expect(r.out).toMatch(
      /\n0 recorded: 0 replayed, 0 unchanged, 0 changed; 0 not compared, 0 uncertain\n\nno decision would change\n/,
    );
  });

  it('refuses an invalid policy (exit 1, with its diagnostics) and a time that is not one (exit 2)', async () => {
    const { dir, run } = fresh();
    writeFileSync(
      join(dir, 'broken.yaml'),
      'name: broken\nagents:\n  bot:\n    rules:\n      - { id: x, effect: maybe, tools: [a] }\n',
    );
    const bad = await run('policy', 'replay', '--policy', 'broken.yaml');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/broken\.yaml:\d+:\d+ error /);
    expect(bad.out).toBe('');
    const when = await run('policy', 'replay', '--policy', 'broken.yaml', '--since', 'last week');
    expect(when.code).toBe(2);
    expect(when.err).toMatch(/since "last week" is not a time/);
  });
});
