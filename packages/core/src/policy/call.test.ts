import { describe, expect, it } from 'vitest';
import { ToolCallSchema } from './call.js';

const issues = (input: unknown) => {
  const r = ToolCallSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('ToolCallSchema', () => {
  it('accepts a full call and keeps args exactly as sent', () => {
    const args = { amount: 12.5, nested: { list: [1, 'a'] } };
    const r = ToolCallSchema.parse({
      agent: 'bot',
      tool: 'db.query',
      args,
      labels: { env: 'prod' },
      now: '2026-01-01T00:00:00Z',
    });
    expect(r.args).toEqual(args);
    expect(r.now?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it('refuses names a rule could fail to recognise', () => {
    for (const tool of ['db.drop ', 'db.drop\n', 'db\u00a0drop', ''])
      expect(issues({ agent: 'a', tool })).not.toEqual([]);
    expect(issues({ agent: 'a b', tool: 't' })[0]).toMatch(/^agent: agent may only contain/);
  });

  it('refuses __proto__ keys in args and labels, at any depth, instead of dropping them', () => {
    expect(
      issues({ agent: 'a', tool: 't', args: JSON.parse('{"x": {"__proto__": {"admin": true}}}') })[0],
    ).toMatch(/^args: .*__proto__/);
    expect(issues({ agent: 'a', tool: 't', labels: JSON.parse('{"__proto__": "x"}') })[0]).toMatch(
      /^labels: /,
    );
    expect(issues({ agent: 'a', tool: 't', labels: { env: 3 } })[0]).toMatch(/^labels: /);
    expect(issues({ agent: 'a', tool: 't', args: [1, 2] })[0]).toMatch(/^args: /);
  });

  it('explains a bad time', () => {
    expect(issues({ agent: 'a', tool: 't', now: 'yesterday' })).toEqual([
      'now: now must be an ISO 8601 time such as 2026-01-01T12:00:00Z',
    ]);
  });

  it('caps label keys and values, naming the label', () => {
    expect(issues({ agent: 'a', tool: 't', labels: { team: 'x'.repeat(1024) } })).toEqual([]);
    expect(issues({ agent: 'a', tool: 't', labels: { team: 'x'.repeat(1025) } })).toEqual([
      'labels.team: label "team" is longer than 1024 characters',
    ]);
    expect(issues({ agent: 'a', tool: 't', labels: { ['k'.repeat(129)]: 'v' } })[0]).toMatch(
      /^labels: label name "k{20}…" is longer than 128 characters$/,
    );
  });
});
