import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CliIo } from './cli-io.js';
import { runCli } from './program.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

async function run(argv: string[], cwd = REPO): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => (out += t), err: (t) => (err += t), cwd };
  const code = await runCli(argv, io);
  return { code, out, err };
}

function scratch(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const LINE = /^(\S+):(\d+):(\d+) (error|warning) ([A-Z_]+) (.+)$/;

describe('warden policy lint', () => {
  it('passes the example policy with exit 0 and a summary', async () => {
    const r = await run(['policy', 'lint', 'packages/server/example-policy']);
    expect(r.code).toBe(0);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/policy "acme-agents" version [0-9a-f]{12}, 26 rules, 4 agents — no problems/);
  });

  it('prints FILE:LINE:COL severity CODE message per problem and exits 1', async () => {
    const dir = scratch({
      'bad.yaml':
        'agents:\n  bot:\n    rules:\n      - id: r\n        effect: alow\n        tools: x\n        when: "args.n >"\n',
    });
    const r = await run(['policy', 'lint', 'bad.yaml'], dir);
    expect(r.code).toBe(1);
    const lines = r.out.trim().split('\n');
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(LINE);
    expect(lines[0]).toMatch(/^bad\.yaml:5:17 error SCHEMA agents\.bot\.rules\.0\.effect: /);
  });

  it('reports CEL errors with the column inside the condition', async () => {
    const dir = scratch({
      'p.yaml': 'agents:\n  bot:\n    rules:\n      - { id: r, effect: allow, tools: x, when: "foo == 1" }\n',
    });
    const r = await run(['policy', 'lint', 'p.yaml'], dir);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^p\.yaml:4:\d+ error CEL_UNKNOWN_VARIABLE Unknown variable: foo/);
  });

  it('warnings pass by default and fail with --strict', async () => {
    const dir = scratch({ 'p.yaml': 'defaults: { decision: allow }\n' });
    const loose = await run(['policy', 'lint', 'p.yaml'], dir);
    expect(loose.code).toBe(0);
    expect(loose.out).toMatch(/^p\.yaml:1:\d+ warning DEFAULT_ALLOW /);
    const strict = await run(['policy', 'lint', '--strict', 'p.yaml'], dir);
    expect(strict.code).toBe(1);
    expect(strict.err).toMatch(/--strict/);
  });

  it('several files form one policy; --separate lints each alone', async () => {
    const dir = scratch({
      'targets.yaml': 'targets:\n  prod: { tools: ["db.*"] }\n',
      'bot.yaml': 'agents:\n  bot:\n    rules: [{ id: r, effect: review, tools: db.x, targets: [prod] }]\n',
    });
    expect((await run(['policy', 'lint', 'targets.yaml', 'bot.yaml'], dir)).code).toBe(0);
    const sep = await run(['policy', 'lint', '--separate', 'targets.yaml', 'bot.yaml'], dir);
    expect(sep.code).toBe(1);
    expect(sep.out).toMatch(/bot\.yaml:3:\d+ error UNKNOWN_TARGET/);
  });

  it('--json gives machine-readable diagnostics', async () => {
    const dir = scratch({ 'p.yaml': 'mode: monitor\n' });
    const r = await run(['policy', 'lint', '--json', 'p.yaml'], dir);
    expect(JSON.parse(r.out).diagnostics[0]).toMatchObject({
      file: 'p.yaml',
      line: 1,
      code: 'MONITOR_MODE',
      severity: 'warning',
    });
  });

  it('a missing file is a usage error with the path, not a stack trace', async () => {
    const r = await run(['policy', 'lint', 'nope.yaml']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no such file or folder: .*nope\.yaml \[POLICY_NOT_FOUND\]/);
    expect(r.err).not.toMatch(/\s+at /);
  });
});

describe('policy folders', () => {
  it('follow symbolic links, so a shared guard file linked in still counts', async () => {
    const dir = scratch({
      'shared/guard.yaml':
        'agents:\n  "*":\n    rules: [{ id: no-secrets, effect: block, tools: "secrets.*" }]\n',
      'pol/main.yaml': 'agents:\n  bot:\n    rules: [{ id: r, effect: allow, tools: secrets.read }]\n',
    });
    symlinkSync(join(dir, 'shared/guard.yaml'), join(dir, 'pol/guard.yaml'));
    symlinkSync(join(dir, 'pol'), join(dir, 'pol/loop'));
    const r = await run(
      ['policy', 'explain', '--policy', 'pol', '--agent', 'bot', '--tool', 'secrets.read', '--json'],
      dir,
    );
    expect(JSON.parse(r.out).decision).toMatchObject({ effect: 'block', ruleId: 'no-secrets' });
  });
});

describe('warden policy test', () => {
  it('runs the example policy tests: all pass', async () => {
    const r = await run(['policy', 'test', 'examples/tests']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/✓ medium refund needs a support lead/);
    expect(r.out).toMatch(/\n(\d+) passed, 0 failed\n$/);
  });

  it('reports a failing case with a diff and its location, and exits 1', async () => {
    const dir = scratch({
      'policy.yaml': 'agents:\n  bot:\n    rules: [{ id: r, effect: allow, tools: x }]\n',
      'tests/a.test.yaml':
        'policy: ../policy.yaml\ncases:\n  - name: ok\n    call: { agent: bot, tool: x }\n    expect: { effect: allow, rule: r }\n  - name: wrong\n    call: { agent: bot, tool: x }\n    expect: { effect: block, rule: null }\n',
    });
    const r = await run(['policy', 'test', 'tests'], dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain('✓ ok');
    expect(r.out).toContain('✗ wrong  (tests/a.test.yaml:6)');
    expect(r.out).toMatch(/effect\s+- expected: block\n\s+\+ actual:\s+allow/);
    expect(r.out).toMatch(/rule\s+- expected: \(default\)\n\s+\+ actual:\s+r/);
    expect(r.out).toMatch(/1 passed, 1 failed/);
  });

  it('a malformed test file is reported with its location', async () => {
    const dir = scratch({
      'x.test.yaml': 'cases:\n  - name: n\n    call: { tool: x }\n    expect: { effect: maybe }\n',
    });
    const r = await run(['policy', 'test', '.', '--policy', '../does-not-matter'], dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/x\.test\.yaml:3:\d+ error SCHEMA cases\.0\.call\.agent/);
    expect(r.err).toMatch(/x\.test\.yaml:4:\d+ error SCHEMA cases\.0\.expect\.effect/);
  });

  it('a test file whose policy is missing is reported against that file; the others still run', async () => {
    const dir = scratch({
      'policy.yaml': 'agents:\n  bot:\n    rules: [{ id: r, effect: allow, tools: x }]\n',
      'a.test.yaml':
        'policy: nope\ncases:\n  - { name: n, call: { agent: bot, tool: x }, expect: { effect: allow } }\n',
      'b.test.yaml':
        'policy: policy.yaml\ncases:\n  - { name: m, call: { agent: bot, tool: x }, expect: { effect: allow } }\n',
    });
    const r = await run(['policy', 'test', '.'], dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/a\.test\.yaml: cannot load its policy nope: no such file or folder/);
    expect(r.out).toMatch(/1 passed, 0 failed, 1 test file\(s\) could not run/);
  });

  it('in monitor mode, cases check what the policy decides, not the always-allow outcome', async () => {
    const dir = scratch({
      'policy.yaml': 'mode: monitor\nagents:\n  bot:\n    rules: [{ id: b, effect: block, tools: x }]\n',
      'a.test.yaml':
        'policy: policy.yaml\ncases:\n  - { name: n, call: { agent: bot, tool: x }, expect: { effect: block, rule: b } }\n',
    });
    expect((await run(['policy', 'test', '.'], dir)).code).toBe(0);
  });

  it('notes a case whose outcome depends on the wall clock', async () => {
    const dir = scratch({
      'policy.yaml':
        'agents:\n  bot:\n    rules:\n      - { id: night, effect: block, tools: x, when: \'now.getHours("UTC") < 6\' }\n      - { id: r, effect: allow, tools: [x, y] }\n',
      'a.test.yaml':
        'policy: policy.yaml\ncases:\n  - { name: clockless, call: { agent: bot, tool: x, now: "2026-01-01T12:00:00Z" }, expect: { effect: allow } }\n  - { name: clocked, call: { agent: bot, tool: x }, expect: { effect: allow } }\n  - { name: unaffected, call: { agent: bot, tool: y }, expect: { effect: allow } }\n',
    });
    const r = await run(['policy', 'test', '.'], dir);
    expect(r.out.match(/note: the policy reads `now`/g)).toHaveLength(1);
    // The note belongs to the clocked case (which passes or fails depending on the hour it runs).
    const note = r.out.indexOf('note:');
    expect(note).toBeGreaterThan(r.out.indexOf(' clocked'));
    expect(note).toBeLessThan(r.out.indexOf(' unaffected'));
  });

  it('an empty folder is a clear error', async () => {
    const dir = scratch({ 'readme.txt': 'x' });
    const r = await run(['policy', 'test', '.'], dir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no policy test files \(\*\.test\.yaml\)/);
  });
});

describe('warden policy explain', () => {
  it('prints the decision, the approval and every rule considered with CEL results', async () => {
    const r = await run([
      'policy',
      'explain',
      '--policy',
      'packages/server/example-policy',
      '--agent',
      'support-bot',
      '--tool',
      'billing.refund',
      '--args',
      '{"amount": 120}',
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Decision {2}REVIEW {2}by rule support-refund-review/);
    expect(r.out).toMatch(/Approval {2}1 of: groups support-leads · timeout 2h · on timeout block/);
    expect(r.out).toMatch(/→ +review +support-refund-review .* true +MATCH/);
    expect(r.out).toMatch(/allow +support-small-refund .* false/);
    expect(r.out).toMatch(/allow +support-tickets .* no +/);
  });

  it('--json carries the whole trace', async () => {
    const r = await run([
      'policy',
      'explain',
      '--policy',
      'packages/server/example-policy',
      '--agent',
      'x',
      '--tool',
      'vault.read',
      '--json',
    ]);
    const ex = JSON.parse(r.out);
    expect(ex.decision).toMatchObject({ effect: 'block', ruleId: 'never-touch-credentials' });
    expect(ex.agentKnown).toBe(false);
    expect(ex.rules.find((t: { id: string }) => t.id === 'never-touch-credentials').targets).toEqual([
      { name: 'credentials', result: true },
    ]);
  });

  it('bad --args JSON and missing options are usage errors that say how to fix them', async () => {
    const bad = await run([
      'policy',
      'explain',
      '--policy',
      'packages/server/example-policy',
      '--agent',
      'a',
      '--tool',
      't',
      '--args',
      '{amount:1}',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--args is not valid JSON .*write e\.g\. --args '\{"amount": 120\}'/);
    const missing = await run([
      'policy',
      'explain',
      '--policy',
      'packages/server/example-policy',
      '--tool',
      't',
    ]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/required option '--agent <name>' not specified/);
  });

  it('refuses tool names with whitespace or control characters instead of matching them', async () => {
    const r = await run([
      'policy',
      'explain',
      '--policy',
      'packages/server/example-policy',
      '--agent',
      'a',
      '--tool',
      'vault.read ',
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/tool: tool may only contain letters, digits and _ \. : @ \/ - \[CALL_INVALID\]/);
  });

  it('an invalid policy is reported, not explained', async () => {
    const dir = scratch({ 'p.yaml': 'agents: 3\n' });
    const r = await run(['policy', 'explain', '--policy', 'p.yaml', '--agent', 'a', '--tool', 't'], dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/p\.yaml:1:9 error SCHEMA/);
  });
});

describe('warden policy schema', () => {
  it('prints a JSON Schema with the rule effects and descriptions', async () => {
    const r = await run(['policy', 'schema']);
    const schema = JSON.parse(r.out);
    expect(schema.$schema).toMatch(/json-schema\.org/);
    expect(JSON.stringify(schema)).toContain('"enum":["allow","review","block"]');
    expect(schema.properties.agents.description).toMatch(/Per-agent sections/);
  });
});
