import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { analyzePolicy, evaluate, loadPolicyTests } from '@warden/core';
import { loadPolicySources } from '@warden/engine';
import { describe, expect, it } from 'vitest';
import {
  CASE_HOME,
  caseContext,
  POLICY_CASES,
  type PolicyCase,
} from '../../test-support/coding-assistants-cases.js';
import { toWardenCall } from './warden-call.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const FOLDER = 'examples/coding-assistants';
const TEST_FILE = `${REPO}${FOLDER}/coding-assistants.test.yaml`;

/** The call a case's tool use becomes, as the policy test file states it. */
function callOf(c: PolicyCase) {
  const agent = c.agent ?? 'claude-code';
  // A model request through the proxy carries no labels (its session is the call's, not a label).
  if (!('kind' in c.use)) return { agent, tool: c.use.tool, labels: {}, args: c.use.args };
  const call = toWardenCall(c.use, caseContext(agent === 'cursor' ? 'claude-code' : agent), CASE_HOME);
  return { agent, tool: call.tool, labels: call.labels, args: call.args };
}

/** The policy test file, written from the cases (UPDATE_EXAMPLE_TESTS=1 rewrites it). */
function testFileText(): string {
  const lines = [
    '# Policy tests for the coding-assistants example. Each call is exactly what `warden hook` sends for',
    '# the tool use in its name (packages/cli/test-support/coding-assistants-cases.ts; regenerate with',
    '# UPDATE_EXAMPLE_TESTS=1 npx vitest run packages/cli/src/hook/coding-assistants-policy.test.ts).',
    'policy: ./policy.yaml',
    'cases:',
  ];
  for (const c of POLICY_CASES) {
    const call = callOf(c);
    lines.push(`  - name: ${JSON.stringify(c.name)}`, '    call:');
    lines.push(
      `      agent: ${call.agent}`,
      `      tool: ${call.tool}`,
      `      labels: ${JSON.stringify(call.labels)}`,
    );
    const args = Object.entries(call.args);
    lines.push(args.length === 0 ? '      args: {}' : '      args:');
    for (const [k, v] of args) lines.push(`        ${k}: ${JSON.stringify(v)}`);
    lines.push(`    expect: { effect: ${c.effect}, rule: ${c.rule ?? 'null'} }`);
  }
  return `${lines.join('\n')}\n`;
}

describe('the coding-assistants example policy', () => {
  const { policy, diagnostics } = analyzePolicy(loadPolicySources([FOLDER], REPO));

  it('compiles with no problem, warnings included', () => {
    expect(diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
    expect(policy).toBeDefined();
  });

  it('decides every case as expected, with calls made by toWardenCall', () => {
    if (!policy) throw new Error('the policy did not compile');
    const wrong = POLICY_CASES.flatMap((c) => {
      const d = evaluate(policy, callOf(c));
      const got = `${d.effect} ${d.ruleId ?? null}`;
      return got === `${c.effect} ${c.rule}` ? [] : [`${c.name}: expected ${c.effect} ${c.rule}, got ${got}`];
    });
    expect(wrong).toEqual([]);
  });

  it('covers every rule of the policy with at least one case', () => {
    if (!policy) throw new Error('the policy did not compile');
    const decided = new Set(POLICY_CASES.map((c) => c.rule));
    const rules = [...policy.plans.values()].flatMap((p) => p.rules.map((r) => r.id));
    expect([...new Set(rules)].filter((id) => !decided.has(id))).toEqual([]);
  });

  it('the policy test file holds exactly these calls and expectations', () => {
    if (process.env.UPDATE_EXAMPLE_TESTS === '1') writeFileSync(TEST_FILE, testFileText());
    const text = readFileSync(TEST_FILE, 'utf8');
    const { loaded, diagnostics: problems } = loadPolicyTests({ file: TEST_FILE, text });
    expect(problems).toEqual([]);
    expect(loaded?.tests.cases).toEqual(
      POLICY_CASES.map((c) => ({
        name: c.name,
        call: callOf(c),
        expect: { effect: c.effect, rule: c.rule },
      })),
    );
  });

  it('`warden policy test` passes the file and `policy lint --strict` the policy, through the real CLI', () => {
    const warden = (args: string[]) =>
      spawnSync(
        process.execPath,
        ['--conditions=@warden/source', '--import', 'tsx', 'packages/cli/src/bin.ts', ...args],
        {
          cwd: REPO,
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
    const test = warden(['policy', 'test', FOLDER]);
    expect(test.stderr).toBe('');
    expect(test.stdout).toContain('✓ curl piped into sudo bash');
    expect(test.stdout).toMatch(new RegExp(`\\n${POLICY_CASES.length} passed, 0 failed\\n$`));
    expect(test.status).toBe(0);
    const lint = warden(['policy', 'lint', '--strict', FOLDER]);
    expect(lint.stdout).toBe('');
    expect(lint.stderr).toMatch(/\d+ rules, 3 agents — no problems/);
    expect(lint.status).toBe(0);
  });
});
