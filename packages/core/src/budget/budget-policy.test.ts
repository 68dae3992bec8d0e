import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../policy/diagnostic.js';
import { analyzePolicy, compilePolicy } from '../policy/policy-compiler.js';
import { DEFAULT_ALERTS, DEFAULT_BREAKERS } from './budget-policy.js';

function errors(text: string, file = 'p.yaml'): Diagnostic[] {
  return analyzePolicy([{ file, text }]).diagnostics.filter((d) => d.severity === 'error');
}

function only(text: string): Diagnostic {
  const es = errors(text);
  expect(es, JSON.stringify(es, null, 2)).toHaveLength(1);
  return es[0] as Diagnostic;
}

const POLICY = `
defaults:
  timeZone: Europe/Berlin
  budgets:
    - { id: agent-day, metric: usd, limit: 50, scope: agent, window: day }
    - { id: all-month, metric: usd, limit: 1000, scope: global, window: month, alerts: [90, 25, 90] }
  breakers:
    rate: { perMinute: 60 }
    tokenBurn: { expectedPerMinute: 5000, factor: 4, over: 2m }
groups:
  base:
    budgets:
      - { id: base-week, metric: tokens, limit: 1000000, scope: team, window: week }
  eng:
    extends: [base]
    budgets:
      - { id: eng-llm, metric: usd, limit: 200, scope: team, window: day, tools: 'llm:*' }
  ops:
    budgets:
      - { id: ops-hour, metric: calls, limit: 100, scope: agent, window: hour }
agents:
  '*':
    budgets:
      - { id: per-session, metric: calls, limit: 500, scope: session, window: session }
    breakers:
      repeat: { max: 3, within: 1m }
  bot:
    groups: [eng]
    budgets:
      - { id: by-customer, metric: usd, limit: 5, scope: tag, tag: customer, window: day }
    breakers:
      pingPong: false
      tokenBurn: { expectedPerMinute: 1000 }
    rules:
      - { id: r1, effect: allow, tools: '*' }
  helper:
    groups: [ops]
`;

describe('compileBudgets: what a policy declares', () => {
  const p = compilePolicy(POLICY).budgets;

  it('compiles every budget with its section, sorted unique alerts and default alerts', () => {
    expect(p.timeZone).toBe('Europe/Berlin');
    expect([...p.budgets.keys()].sort()).toEqual([
      'agent-day',
      'all-month',
      'base-week',
      'by-customer',
      'eng-llm',
      'ops-hour',
      'per-session',
    ]);
    expect(p.budgets.get('agent-day')).toEqual({
      id: 'agent-day',
      metric: 'usd',
      limit: 50,
      scope: 'agent',
      window: 'day',
      alerts: [...DEFAULT_ALERTS],
      section: 'defaults',
    });
    expect(p.budgets.get('all-month')?.alerts).toEqual([25, 90]);
    expect(p.budgets.get('by-customer')).toMatchObject({
      scope: 'tag',
      tag: 'customer',
      section: 'agents.bot',
    });
    expect(p.budgets.get('per-session')?.section).toBe('agents.*');
  });

  it('a team budget carries the group that declared it, inherited or not', () => {
    expect(p.budgets.get('eng-llm')).toMatchObject({ team: 'eng', section: 'groups.eng' });
    expect(p.budgets.get('base-week')).toMatchObject({ team: 'base', section: 'groups.base' });
    expect(p.budgets.get('ops-hour')?.team).toBeUndefined();
  });

  it('a tools filter matches by glob', () => {
    const tools = p.budgets.get('eng-llm')?.tools;
    expect(tools?.('llm:gpt-4o')).toBe(true);
    expect(tools?.('db.query')).toBe(false);
    expect(p.budgets.get('agent-day')?.tools).toBeUndefined();
  });

  it('the time zone defaults to UTC', () => {
    expect(compilePolicy('agents: { bot: {} }').budgets.timeZone).toBe('UTC');
    expect(compilePolicy('agents: { bot: {} }').budgets.budgets.size).toBe(0);
  });
});

describe('forAgent', () => {
  const p = compilePolicy(POLICY).budgets;
  const ids = (agent: string) => p.forAgent(agent).budgets.map((b) => b.id);

  it('gives defaults, the agent’s own, agents.* and its groups’ budgets (inherited through extends)', () => {
    expect(ids('bot')).toEqual([
      'agent-day',
      'all-month',
      'by-customer',
      'per-session',
      'eng-llm',
      'base-week',
    ]);
    expect(ids('helper')).toEqual(['agent-day', 'all-month', 'per-session', 'ops-hour']);
  });

  it('an agent the policy does not name gets defaults and agents.*', () => {
    expect(ids('stranger')).toEqual(['agent-day', 'all-month', 'per-session']);
    expect(ids('constructor')).toEqual(['agent-day', 'all-month', 'per-session']);
    expect(ids('__proto__')).toEqual(['agent-day', 'all-month', 'per-session']);
  });

  it('groups given to agents.* apply to every agent', () => {
    const q = compilePolicy(`
groups:
  all: { budgets: [{ id: pool, metric: usd, limit: 10, scope: team, window: month }] }
  eng: { extends: [all] }
agents:
  '*': { groups: [all] }
  bot: { groups: [eng] }
`).budgets;
    expect(q.forAgent('bot').budgets.map((b) => b.id)).toEqual(['pool']);
    expect(q.forAgent('anyone').budgets.map((b) => b.id)).toEqual(['pool']);
    expect(q.forAgent('anyone').budgets[0]?.team).toBe('all');
  });

  it('returns the same object for the same agent (cached)', () => {
    expect(p.forAgent('bot')).toBe(p.forAgent('bot'));
  });

  it('breakers: built-in defaults, then defaults.breakers, agents.* and the agent’s own; false switches off', () => {
    const tokenBurn = { expectedPerMinute: 5000, factor: 4, overMs: 120_000 };
    expect(p.forAgent('stranger').breakers).toEqual({
      repeat: { max: 3, withinMs: 60_000 },
      pingPong: DEFAULT_BREAKERS.pingPong,
      rate: { perMinute: 60 },
      tokenBurn,
    });
    expect(p.forAgent('helper').breakers).toEqual(p.forAgent('stranger').breakers);
    // bot: pingPong off; its tokenBurn keeps the factor and period chosen in defaults.
    expect(p.forAgent('bot').breakers).toEqual({
      repeat: { max: 3, withinMs: 60_000 },
      rate: { perMinute: 60 },
      tokenBurn: { expectedPerMinute: 1000, factor: 4, overMs: 120_000 },
    });
    expect(compilePolicy('agents: { bot: {} }').budgets.forAgent('bot').breakers).toEqual(DEFAULT_BREAKERS);
  });

  it('a breaker switched off in defaults can be switched on again for one agent', () => {
    const q = compilePolicy(`
defaults:
  breakers: { rate: false, tokenBurn: false, repeat: false, pingPong: false }
agents:
  bot:
    breakers:
      rate: { perMinute: 5 }
      tokenBurn: { expectedPerMinute: 100 }
`).budgets;
    expect(q.forAgent('other').breakers).toEqual({});
    expect(q.forAgent('bot').breakers).toEqual({
      rate: { perMinute: 5 },
      tokenBurn: { expectedPerMinute: 100, factor: 10, overMs: 300_000 },
    });
  });
});

describe('compileBudgets: mistakes are located', () => {
  const agent = (budget: string) => `agents:
  bot:
    budgets:
      - id: b1
        metric: usd
        limit: 5
${budget}`;

  it('a scope a section cannot have', () => {
    const d = only(agent('        scope: team\n        window: day\n'));
    expect(d).toMatchObject({ code: 'SCHEMA', line: 7, col: 16 });
    expect(d.message).toBe('scope team is not possible in an agent section (use session, agent, tag)');
    expect(only(agent('        scope: global\n        window: day\n')).message).toContain('an agent section');

    const inGroup = only(`groups:
  eng:
    budgets:
      - { id: g, metric: usd, limit: 1, scope: global, window: day }
`);
    expect(inGroup).toMatchObject({ code: 'SCHEMA', line: 4 });
    expect(inGroup.message).toBe(
      'scope global is not possible in a group section (use session, agent, team, tag)',
    );

    const inDefaults = only(`defaults:
  budgets:
    - id: d
      metric: usd
      limit: 1
      scope: team
      window: day
`);
    expect(inDefaults).toMatchObject({ code: 'SCHEMA', line: 6, col: 14 });
    expect(inDefaults.message).toBe(
      'scope team is not possible in defaults (use session, agent, global, tag)',
    );
  });

  it('a budget id used twice, across sections', () => {
    const d = only(`defaults:
  budgets:
    - { id: spend, metric: usd, limit: 1, scope: agent, window: day }
agents:
  bot:
    budgets:
      - id: spend
        metric: usd
        limit: 2
        scope: agent
        window: day
`);
    expect(d).toMatchObject({ code: 'SCHEMA', line: 7, col: 13 });
    expect(d.message).toContain('budget id "spend" is used twice');
  });

  it('a copy of an invalid budget is reported too', () => {
    const es = errors(`agents:
  bot:
    budgets:
      - { id: x, metric: usd, limit: 1, scope: team, window: day }
      - { id: x, metric: usd, limit: 1, scope: agent, window: day }
`);
    expect(es.map((d) => [d.line, d.message.slice(0, 20)])).toEqual([
      [4, 'scope team is not po'],
      [5, 'budget id "x" is use'],
    ]);
  });

  it('window session with a scope that outlives a session', () => {
    const d = only(agent('        scope: agent\n        window: session\n'));
    expect(d).toMatchObject({ code: 'SCHEMA', line: 8, col: 17 });
    expect(d.message).toBe(
      'window session needs scope session (a budget of scope agent outlives any session)',
    );
  });

  it('scope tag without a tag, and a tag without scope tag', () => {
    const d = only(agent('        scope: tag\n        window: day\n'));
    expect(d).toMatchObject({ code: 'SCHEMA', line: 7 });
    expect(d.message).toContain('scope tag and `tag: <label>` go together');
    const e = only(agent('        scope: agent\n        tag: customer\n        window: day\n'));
    expect(e).toMatchObject({ code: 'SCHEMA', line: 8, col: 14 });
  });

  it('a tools glob that does not compile, single or in a list', () => {
    const d = only(agent("        scope: agent\n        window: day\n        tools: 'db.{a,b'\n"));
    expect(d).toMatchObject({ code: 'BAD_GLOB', line: 9, col: 16 });
    expect(d.message).toMatch(/^unbalanced "\{" in glob "db.\{a,b"/);
    const e = only(agent("        scope: agent\n        window: day\n        tools: [llm:*, 'x.{']\n"));
    expect(e).toMatchObject({ code: 'BAD_GLOB', line: 9, col: 24 });
  });

  it('an unknown time zone', () => {
    const d = only('defaults:\n  decision: allow\n  timeZone: Europe/Berln\n');
    expect(d).toMatchObject({ code: 'SCHEMA', line: 3, col: 13 });
    expect(d.message).toContain('unknown time zone "Europe/Berln"');
  });

  it('schema errors: metric, limit, scope, window, alerts, unknown keys, breakers', () => {
    expect(only(agent('        scope: agent\n        window: year\n'))).toMatchObject({
      code: 'SCHEMA',
      line: 8,
    });
    expect(
      only(agent('        scope: agent\n        window: day\n').replace('metric: usd', 'metric: eur')),
    ).toMatchObject({ code: 'SCHEMA', line: 5 });
    expect(
      only(agent('        scope: agent\n        window: day\n').replace('limit: 5', 'limit: 0')),
    ).toMatchObject({
      code: 'SCHEMA',
      line: 6,
    });
    expect(only(agent('        scope: galaxy\n        window: day\n'))).toMatchObject({
      code: 'SCHEMA',
      line: 7,
    });
    expect(only(agent('        scope: agent\n        window: day\n        alerts: [0]\n')).line).toBe(9);
    expect(only(agent('        scope: agent\n        window: day\n        limits: 3\n'))).toMatchObject({
      code: 'UNKNOWN_KEY',
      line: 9,
    });
    expect(only('agents:\n  bot:\n    breakers:\n      repeat: { max: 0, within: 1m }\n').line).toBe(4);
    expect(only('agents:\n  bot:\n    breakers:\n      pingPong: { cycles: 1, within: 1m }\n').line).toBe(4);
    expect(only('agents:\n  bot:\n    breakers:\n      repeat: { max: 3, within: soon }\n').line).toBe(4);
    expect(only('agents:\n  bot:\n    breakers:\n      rate: true\n').line).toBe(4);
    expect(only('groups:\n  eng:\n    breakers: { rate: false }\n').code).toBe('UNKNOWN_KEY');
  });

  it('locates a budget error in the file that declares it', () => {
    const { diagnostics } = analyzePolicy([
      { file: 'defaults.yaml', text: 'defaults:\n  timeZone: UTC\n' },
      {
        file: 'agents.yaml',
        text: 'agents:\n  bot:\n    budgets:\n      - { id: b, metric: usd, limit: 1, scope: global, window: day }\n',
      },
    ]);
    expect(diagnostics.filter((d) => d.severity === 'error')).toMatchObject([
      { file: 'agents.yaml', line: 4, code: 'SCHEMA' },
    ]);
  });
});

describe('policy version', () => {
  it('changes when a budget or breaker changes', () => {
    const v = compilePolicy(POLICY).version;
    expect(compilePolicy(POLICY).version).toBe(v);
    expect(compilePolicy(POLICY.replace('limit: 50,', 'limit: 51,')).version).not.toBe(v);
    expect(compilePolicy(POLICY.replace('window: hour', 'window: day')).version).not.toBe(v);
    expect(compilePolicy(POLICY.replace('perMinute: 60', 'perMinute: 61')).version).not.toBe(v);
    expect(compilePolicy(POLICY.replace('Europe/Berlin', 'America/New_York')).version).not.toBe(v);
  });
});
