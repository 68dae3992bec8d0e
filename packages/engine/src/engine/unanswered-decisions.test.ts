import { type AuditEvent, type AuditRecord, WardenError } from '@warden/core';
import { describe, expect, it } from 'vitest';
import type { CommitOutcome, CommitUnit, FoundCall } from '../store/store.js';
import { UnansweredDecisions } from './unanswered-decisions.js';

const CALL = 'call-1';

/** A decision as the trail holds it. */
const decided = {
  seq: 7,
  hash: 'h7',
  event: {
    id: 'evt-7',
    type: 'call.decided',
    ts: '2026-01-01T00:00:00.000Z',
    agent: 'worker',
    session: 's1',
    tool: 'echo',
    callId: CALL,
    decision: { effect: 'allow' },
  },
} as unknown as AuditRecord;

/**
 * The ordering the real database cannot be made to show on demand: the commit's status says `outcome`
 * (or, given a function, what it answers to the nth question) while the trail shows no decision for the
 * first `hiddenFor` reads.
 */
function harness(outcome: CommitOutcome | ((asked: number) => CommitOutcome), hiddenFor: number) {
  let reads = 0;
  let asked = 0;
  const commits: CommitUnit[] = [];
  const errors: WardenError[] = [];
  const unanswered = new UnansweredDecisions({
    store: {
      commitOutcome: async () => {
        asked += 1;
        return typeof outcome === 'function' ? outcome(asked) : outcome;
      },
      findCall: async (): Promise<FoundCall> => {
        reads += 1;
        return { decided: reads > hiddenFor ? decided : undefined, completed: false } as FoundCall;
      },
      reservation: async () => undefined,
      approval: async () => undefined,
    },
    commit: async (unit) => {
      commits.push(unit);
      return { events: [] } as never;
    },
    event: (type, fields) => ({ ...fields, type, id: `evt-${type}` }) as AuditEvent,
    cancelApproval: async () => undefined,
    onError: (err) => errors.push(err),
  });
  unanswered.track(CALL, { xid: '42' });
  unanswered.stop();
  return { unanswered, commits, errors };
}

describe('decisions in doubt whose row is not visible yet', () => {
  it('a decision whose commit is not visible yet stays pending and is voided once it shows', async () => {
    // PostgreSQL: committed but still held back by a synchronous standby, which the store answers in-progress.
    const { unanswered, commits } = harness((asked) => (asked <= 3 ? 'in-progress' : 'committed'), 0);
    for (let i = 0; i < 3; i++) {
      await unanswered.resolve(true);
      expect(unanswered.unresolved()).toEqual([CALL]);
    }
    await unanswered.resolve(true);
    expect(unanswered.size).toBe(0);
    expect(unanswered.voided).toBe(1);
    expect(commits.map((u) => u.events.map((e) => e.type))).toEqual([['call.voided']]);
    expect(commits[0]?.events[0]?.data).toMatchObject({ voidedSeq: 7, commitStatus: 'committed' });
  });

  it('a commit that stays in progress (or unseen) is kept, and said so once', async () => {
    const { unanswered, errors } = harness('in-progress', Number.POSITIVE_INFINITY);
    for (let i = 0; i < 15; i++) await unanswered.resolve(true);
    expect(unanswered.unresolved()).toEqual([CALL]);
    const stillUnseen = errors.filter((e) => e.message.includes('still in progress or not visible'));
    expect(stillUnseen).toHaveLength(1);
    expect(stillUnseen[0]?.details).toMatchObject({ callId: CALL });
  });

  it('committed and visible but not in the trail: the id names another transaction, so it is dropped at once', async () => {
    // After a crash PostgreSQL gives the id of a transaction it lost to the next one, which commits.
    const { unanswered, commits, errors } = harness('committed', Number.POSITIVE_INFINITY);
    await unanswered.resolve(true);
    expect(unanswered.size).toBe(0);
    expect(commits).toEqual([]);
    expect(errors.filter((e) => !e.message.includes('was not acknowledged'))).toEqual([]);
  });

  it('an aborted decision is dropped at once: it never landed', async () => {
    const { unanswered, commits } = harness('aborted', Number.POSITIVE_INFINITY);
    await unanswered.resolve(true);
    expect(unanswered.size).toBe(0);
    expect(commits).toEqual([]);
  });

  it('an unknown outcome with no decision is looked for a bounded number of times, then given up loudly', async () => {
    const { unanswered, errors, commits } = harness('unknown', Number.POSITIVE_INFINITY);
    for (let i = 0; i < 9; i++) {
      await unanswered.resolve(true);
      expect(unanswered.unresolved()).toEqual([CALL]);
    }
    await unanswered.resolve(true);
    expect(unanswered.size).toBe(0);
    expect(commits).toEqual([]);
    const gaveUp = errors.filter((e) => e.message.includes('gave up looking'));
    expect(gaveUp).toHaveLength(1);
    expect(gaveUp[0]).toMatchObject({ code: 'STORE_UNAVAILABLE', details: { callId: CALL } });
  });
});

describe('a doubt whose outcome cannot be asked', () => {
  it('is answered by the trail, reported, and does not keep the other doubts pending', async () => {
    const errors: WardenError[] = [];
    const unanswered = new UnansweredDecisions({
      store: {
        commitOutcome: async (doubt) => {
          if (doubt.xid === 'bad')
            throw new WardenError('INTERNAL', 'database error while asking how a commit ended');
          return 'aborted';
        },
        findCall: async (): Promise<FoundCall> => ({ decided: undefined, completed: false }),
        reservation: async () => undefined,
        approval: async () => undefined,
      },
      commit: async () => ({ events: [] }) as never,
      event: (type, fields) => ({ ...fields, type, id: `evt-${type}` }) as AuditEvent,
      cancelApproval: async () => undefined,
      onError: (err) => errors.push(err),
    });
    unanswered.track('call-bad', { xid: 'bad' });
    unanswered.track('call-ok', { xid: '43' });
    unanswered.stop();
    await unanswered.resolve(true);
    expect(unanswered.unresolved()).toEqual(['call-bad']);
    expect(errors.map((e) => e.code)).toContain('INTERNAL');
    // Unknown: looked for in the trail a bounded number of times, then given up loudly.
    for (let i = 0; i < 9; i++) await unanswered.resolve(true);
    expect(unanswered.size).toBe(0);
    expect(errors.filter((e) => e.message.includes('gave up looking'))).toHaveLength(1);
  });
});
