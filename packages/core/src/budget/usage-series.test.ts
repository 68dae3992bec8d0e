import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../audit/audit-event.js';
import { UsageSeriesBuilder, usageSeries } from './usage-series.js';

const HOUR = 3_600_000;
const from = Date.parse('2026-03-01T00:00:00Z');

function completed(agent: string, atMs: number, usage?: Record<string, number>): AuditEvent {
  return {
    id: `e-${agent}-${atMs}`,
    ts: new Date(atMs).toISOString(),
    type: 'call.completed',
    actor: { kind: 'agent', id: agent },
    agent,
    session: 's',
    tool: 't',
    callId: `c-${atMs}`,
    outcome: { status: 'ok', durationMs: 1, ...(usage ? { usage } : {}) },
  } as AuditEvent;
}

describe('usageSeries', () => {
  it('sums calls, tokens and cost per bucket and key, biggest spender first', () => {
    const events = [
      completed('bot-a', from + 10, { inputTokens: 100, outputTokens: 20, costUsd: 0.5 }),
      completed('bot-a', from + HOUR + 5, { inputTokens: 1, outputTokens: 1 }),
      completed('bot-b', from + 2 * HOUR, { costUsd: 2 }),
      completed('bot-b', from + 3 * HOUR), // outside: to is exclusive
      { ...completed('bot-a', from), type: 'call.decided' } as AuditEvent,
    ];
    const s = usageSeries(events, {
      fromMs: from,
      toMs: from + 3 * HOUR,
      bucketMs: HOUR,
      keysOf: (a) => [a],
    });
    expect(s.buckets).toEqual([
      '2026-03-01T00:00:00.000Z',
      '2026-03-01T01:00:00.000Z',
      '2026-03-01T02:00:00.000Z',
    ]);
    expect(s.lines.map((l) => l.key)).toEqual(['bot-b', 'bot-a']);
    expect(s.lines[1]).toMatchObject({ calls: [1, 1, 0], tokens: [120, 2, 0], costUsd: [0.5, 0, 0] });
    expect(s.lines[0]).toMatchObject({
      calls: [0, 0, 1],
      costUsd: [0, 0, 2],
      total: { calls: 1, costUsd: 2 },
    });
  });

  it('counts an agent in each of its teams and skips agents in none', () => {
    const teams: Record<string, string[]> = { a: ['support', 'everyone'], b: [] };
    const s = usageSeries([completed('a', from), completed('b', from)], {
      fromMs: from,
      toMs: from + HOUR,
      bucketMs: HOUR,
      keysOf: (agent) => teams[agent] ?? [],
    });
    expect(s.lines.map((l) => [l.key, l.total.calls])).toEqual([
      ['everyone', 1],
      ['support', 1],
    ]);
  });

  it('refuses an empty range', () => {
    expect(() => usageSeries([], { fromMs: from, toMs: from, bucketMs: HOUR, keysOf: () => [] })).toThrow(
      RangeError,
    );
  });

  it('counts sums of an hour (a rollup cell) as the events they add up', () => {
    const o = { fromMs: from, toMs: from + 3 * HOUR, bucketMs: HOUR, keysOf: (a: string) => [a, 'team'] };
    const events = [
      completed('bot-a', from + HOUR + 10, { inputTokens: 100, outputTokens: 20, costUsd: 0.5 }),
      completed('bot-a', from + HOUR + 20, { inputTokens: 1, costUsd: 0.25 }),
    ];
    const summed = new UsageSeriesBuilder(o);
    summed.addSums('bot-a', from + HOUR, { calls: 2, tokens: 121, costUsd: 0.75 });
    summed.addSums('bot-a', from + 3 * HOUR, { calls: 5, tokens: 5, costUsd: 5 }); // outside: ignored
    expect(summed.result()).toEqual(usageSeries(events, o));
  });
});
