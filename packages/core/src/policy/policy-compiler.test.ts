import { describe, expect, it } from 'vitest';
import { isWardenError } from '../errors/warden-error.js';
import type { Diagnostic } from './diagnostic.js';
import { analyzePolicy, compilePolicy } from './policy-compiler.js';

function problems(text: string, file = 'p.yaml'): Diagnostic[] {
  return [...analyzePolicy([{ file, text }]).diagnostics];
}

function only(text: string): Diagnostic {
  const errors = problems(text).filter((d) => d.severity === 'error');
  expect(errors, JSON.stringify(errors, null, 2)).toHaveLength(1);
  return errors[0] as Diagnostic;
}

const BASE = `
agents:
  bot:
    rules:
      - id: r1
        effect: allow
        tools: db.query
`;

describe('compilePolicy', () => {
  it('compiles a minimal policy with secure defaults', () => {
    const p = compilePolicy(BASE);
    expect(p.defaultEffect).toBe('block');
    expect(p.mode).toBe('enforce');
    expect(p.version).toMatch(/^[0-9a-f]{64}$/);
    expect(p.plans.get('bot')?.rules.map((r) => r.id)).toEqual(['r1']);
  });

  it('gives the same version to the same policy written differently, and a new one for a change', () => {
    const reordered = `
agents:
  bot:
    rules: [{ effect: allow, tools: db.query, id: r1 }]
`;
    expect(compilePolicy(reordered).version).toBe(compilePolicy(BASE).version);
    expect(compilePolicy(BASE.replace('db.query', 'db.execute')).version).not.toBe(
      compilePolicy(BASE).version,
    );
  });

  it('throws POLICY_INVALID carrying every diagnostic', () => {
    try {
      compilePolicy('agents: [1, 2]');
      expect.unreachable();
    } catch (err) {
      expect(isWardenError(err, 'POLICY_INVALID')).toBe(true);
      expect((err as { details: { diagnostics: Diagnostic[] } }).details.diagnostics[0]?.code).toBe('SCHEMA');
    }
  });
});

describe('bad input gets a located, clear error', () => {
  it('malformed YAML', () => {
    const d = only('agents:\n  bot:\n    rules: [\n');
    expect(d).toMatchObject({ code: 'YAML_SYNTAX', severity: 'error', file: 'p.yaml' });
    expect(d.line).toBeGreaterThanOrEqual(3);
  });

  it('a wrong type names the path', () => {
    const d = only(BASE.replace('effect: allow', 'effect: permit'));
    expect(d).toMatchObject({ code: 'SCHEMA', line: 6, col: 17 });
    expect(d.message).toContain('agents.bot.rules.0.effect');
    expect(d.message).toMatch(/allow|review|block/);
  });

  it('a value matching no form of a union names the element at fault, or the forms allowed', () => {
    const d = only(BASE.replace('tools: db.query', 'tools: ["a", 3]'));
    expect(d).toMatchObject({
      line: 7,
      col: 22,
      message: 'agents.bot.rules.0.tools.1: Invalid input: expected string, received number',
    });
    expect(only(BASE.replace('tools: db.query', 'tools: 5')).message).toBe(
      'agents.bot.rules.0.tools: expected a string or a list',
    );
  });

  it('an unknown key points at the key', () => {
    const d = only(BASE.replace('tools: db.query', 'tools: db.query\n        tool: db.x'));
    expect(d).toMatchObject({ code: 'UNKNOWN_KEY', line: 8, col: 9 });
    expect(d.message).toBe('unknown key "tool" in agents.bot.rules.0 (did you mean "tools"?)');
  });

  it('a missing required key says so, and typos get a suggestion', () => {
    const d = only(BASE.replace('        tools: db.query\n', ''));
    expect(d).toMatchObject({
      code: 'SCHEMA',
      line: 5,
      message: 'missing required key "tools" in agents.bot.rules.0',
    });
    expect(only(BASE.replace('  bot:\n', '  bot:\n    grups: [a]\n')).message).toMatch(
      /did you mean "groups"/,
    );
    expect(
      only(BASE.replace('tools: db.query', 'tools: db.query\n        when: arg.x == 1')).message,
    ).toMatch(/did you mean "args"/);
    expect(
      only(
        BASE.replace('tools: db.query', 'tools: db.query\n        targets: [prd]') +
          'targets:\n  prod: { tools: [x] }\n',
      ).message,
    ).toMatch(/did you mean "prod"/);
  });

  it('broken CEL points into the condition', () => {
    const d = only(BASE.replace('tools: db.query', "tools: db.query\n        when: 'args.amount >'"));
    expect(d.code).toBe('CEL_SYNTAX');
    expect(d.line).toBe(8);
    expect(d.col).toBeGreaterThan(15);
  });

  it('a CEL condition naming something the call does not have', () => {
    const d = only(BASE.replace('tools: db.query', 'tools: db.query\n        when: user.isAdmin'));
    expect(d.code).toBe('CEL_UNKNOWN_VARIABLE');
    expect(d.message).toContain('user');
    expect(d.message).toContain('known: agent, session, tool, args');
  });

  it('a CEL condition that is not a bool, or ill-typed', () => {
    expect(only(BASE.replace('tools: db.query', 'tools: db.query\n        when: tool + "x"')).code).toBe(
      'CEL_TYPE',
    );
    expect(only(BASE.replace('tools: db.query', 'tools: db.query\n        when: tool > 3')).code).toBe(
      'CEL_TYPE',
    );
  });

  it('a regular expression that cannot compile is caught at lint time', () => {
    const d = only(BASE.replace('tools: db.query', `tools: db.query\n        when: 'tool.matches("(?i)x")'`));
    expect(d.code).toBe('CEL_SYNTAX');
    expect(d.message).toContain('lowerAscii');
  });

  it('unknown targets and groups', () => {
    expect(only(BASE.replace('tools: db.query', 'tools: db.query\n        targets: [prod]')).code).toBe(
      'UNKNOWN_TARGET',
    );
    expect(only(BASE.replace('  bot:\n', '  bot:\n    groups: [nope]\n')).code).toBe('UNKNOWN_GROUP');
  });

  it('cycles in group inheritance, reported once with the loop', () => {
    const d = only(`
groups:
  a: { extends: [b] }
  b: { extends: [c] }
  c: { extends: [a] }
agents:
  bot: { groups: [a] }
`);
    expect(d.code).toBe('GROUP_CYCLE');
    expect(d.message).toMatch(/a → b → c → a/);
  });

  it('duplicate rule ids', () => {
    const d = only(`${BASE}      - id: r1\n        effect: block\n        tools: x\n`);
    expect(d).toMatchObject({ code: 'DUPLICATE_RULE_ID', line: 8 });
    expect(d.message).toContain('p.yaml:5');
  });

  it('a file over the size limit is refused without parsing', () => {
    const big = `# ${'x'.repeat(10 * 1024 * 1024)}\n`;
    const d = only(big);
    expect(d.code).toBe('FILE_TOO_LARGE');
    expect(d.message).toMatch(/10\.0 MiB; the limit is 4 MiB/);
  });

  it('deeply nested documents, flow and block style', () => {
    expect(only(`agents: ${'['.repeat(100_000)}`).code).toBe('TOO_DEEP');
    const block = Array.from({ length: 200 }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n');
    expect(only(`${block} 1\n`).code).toBe('TOO_DEEP');
  });

  it('alias bombs are stopped', () => {
    const bomb = ['a: &a [x,x,x,x,x,x,x,x,x]'];
    for (const [p, c] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
      ['f', 'e'],
    ])
      bomb.push(`${p}: &${p} [${Array(9).fill(`*${c}`).join(',')}]`);
    expect(only(bomb.join('\n')).code).toBe('YAML_SYNTAX');
  });

  it('a document that is not a mapping', () => {
    expect(only('- just\n- a list\n').code).toBe('SCHEMA');
    expect(only('"a string"').code).toBe('SCHEMA');
  });

  it('an empty file is an empty (block-everything) policy, not a crash', () => {
    const { policy } = analyzePolicy([{ file: 'e.yaml', text: '' }]);
    expect(policy?.rules).toHaveLength(0);
  });

  it('a target with no criteria', () => {
    expect(only('targets:\n  prod: { description: nothing }\n').message).toMatch(/no criteria/);
  });

  it('bad durations and globs', () => {
    expect(
      only(BASE.replace('effect: allow', 'effect: review\n        approval: { timeout: soon }')).message,
    ).toMatch(/not a duration/);
    expect(only(BASE.replace('tools: db.query', "tools: 'db.{a,b'")).code).toBe('BAD_GLOB');
  });
});

describe('keys that would silently rename or drop entries are refused', () => {
  it('a number or null key is not an agent name', () => {
    const d = only(
      'agents:\n  7:\n    rules: [{ id: a, effect: block, tools: x }]\n  "7":\n    rules: [{ id: b, effect: allow, tools: x }]\n',
    );
    expect(d).toMatchObject({ code: 'SCHEMA', line: 2, col: 3 });
    expect(d.message).toBe('key 7 is not a string; quote it ("7")');
    expect(only('agents:\n  ~: {}\n').message).toMatch(/key ~ is not a string/);
  });

  it('__proto__ keys, anywhere', () => {
    expect(only('agents:\n  __proto__:\n    rules: [{ id: a, effect: block, tools: "*" }]\n').message).toBe(
      'the key "__proto__" is not allowed',
    );
    expect(only('targets:\n  prod: { labels: { __proto__: prod } }\n').line).toBe(2);
  });

  it('an empty label set, which would match every call', () => {
    expect(only('targets:\n  prod: { labels: {} }\n').message).toMatch(/at least one label/);
  });

  it('several YAML documents in one file', () => {
    expect(only('agents: {}\n---\nagents: {}\n').message).toMatch(/several YAML documents .* its own file/);
  });

  it('"*" names only the every-agent section', () => {
    expect(only('groups:\n  "*": {}\n').code).toBe('SCHEMA');
  });
});

describe('positions inside conditions', () => {
  it('are exact in plain and quoted scalars and fall back to the scalar start elsewhere', () => {
    const rule = (when: string) =>
      `agents:\n  bot:\n    rules:\n      - id: r\n        effect: allow\n        tools: x\n        when: ${when}\n`;
    expect(only(rule('args.a > foo')).col).toBe(24);
    expect(only(rule("'args.a > foo'")).col).toBe(25);
    expect(only(rule('"\\"x\\" == foo"')).col).toBe(15);
    const block = only(rule('>-\n          args.a >\n          foo == 1'));
    expect([block.line, block.col]).toEqual([7, 15]);
  });
});

describe('multi-file policies', () => {
  it('merges sections across files and keeps locations per file', () => {
    const { policy, diagnostics } = analyzePolicy([
      { file: 'targets.yaml', text: 'targets:\n  prod: { tools: ["db.*"] }\n' },
      {
        file: 'bot.yaml',
        text: 'agents:\n  bot:\n    rules:\n      - { id: r, effect: review, tools: db.query, targets: [prod] }\n',
      },
    ]);
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(policy?.plans.get('bot')?.rules[0]?.targets?.[0]?.name).toBe('prod');
  });

  it('refuses the same agent or setting in two files', () => {
    const { policy, diagnostics } = analyzePolicy([
      { file: 'a.yaml', text: 'mode: enforce\nagents:\n  bot: {}\n' },
      { file: 'b.yaml', text: 'mode: monitor\nagents:\n  bot: {}\n' },
    ]);
    expect(policy).toBeUndefined();
    expect(diagnostics.map((d) => `${d.file}:${d.line} ${d.code}`)).toEqual([
      'b.yaml:1 DUPLICATE_DEFINITION',
      'b.yaml:3 DUPLICATE_DEFINITION',
    ]);
    expect(diagnostics[0]?.message).toContain('a.yaml');
  });
});
