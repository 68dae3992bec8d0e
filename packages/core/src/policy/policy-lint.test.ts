import { describe, expect, it } from 'vitest';
import type { DiagnosticCode } from './diagnostic.js';
import { analyzePolicy } from './policy-compiler.js';

/**
 * The warnings of a policy. REVIEW_UNVERIFIED_IDENTITY (every review rule of an agent without
 * identity.requireTaskToken) is left out unless asked for, so each test sees the warning it is about.
 */
function warnings(text: string, all = false): { code: DiagnosticCode; line: number; message: string }[] {
  const { policy, diagnostics } = analyzePolicy([{ file: 'p.yaml', text }]);
  expect(policy, JSON.stringify(diagnostics)).toBeDefined();
  return diagnostics
    .filter((d) => d.severity === 'warning' && (all || d.code !== 'REVIEW_UNVERIFIED_IDENTITY'))
    .map(({ code, line, message }) => ({ code, line, message }));
}

const codes = (text: string) => warnings(text).map((w) => w.code);

describe('lint warnings', () => {
  it('a clean policy has none', () => {
    expect(
      codes('agents:\n  bot:\n    rules:\n      - { id: r, effect: allow, tools: docs.read }\n'),
    ).toEqual([]);
  });

  it('a review rule whose separation of duties compares claimed names (no task token required)', () => {
    const rules = '    rules:\n      - { id: pay, effect: review, tools: pay }\n';
    const w = warnings(`agents:\n  bot:\n${rules}`, true);
    expect(w).toMatchObject([{ code: 'REVIEW_UNVERIFIED_IDENTITY', line: 4 }]);
    expect(w[0]?.message).toContain('bot does not require a task token');
    expect(warnings(`agents:\n  bot:\n    identity: { requireTaskToken: true }\n${rules}`, true)).toEqual([]);
    expect(
      warnings(`defaults: { identity: { requireTaskToken: true } }\nagents:\n  bot:\n${rules}`, true),
    ).toEqual([]);
    // An agent may opt out of the default: its review rules are warned about again.
    const optOut = `defaults: { identity: { requireTaskToken: true } }\nagents:\n  bot:\n    identity: { requireTaskToken: false }\n${rules}`;
    expect(codes(optOut)).toEqual([]);
    expect(warnings(optOut, true).map((x) => x.code)).toEqual(['REVIEW_UNVERIFIED_IDENTITY']);
  });

  it('default allow and monitor mode', () => {
    expect(codes('defaults: { decision: allow }\n')).toEqual(['DEFAULT_ALLOW']);
    expect(codes('mode: monitor\n')).toEqual(['MONITOR_MODE']);
  });

  it('an allow of every tool', () => {
    const [w] = warnings('agents:\n  bot:\n    rules:\n      - { id: r, effect: allow, tools: "*" }\n');
    expect(w).toMatchObject({ code: 'ALLOW_WILDCARD', line: 4 });
  });

  it('an allow that can reach a sensitive target with no review or block rule in front of it', () => {
    const base =
      'targets:\n  vault: { tools: ["vault.*"], when: \'args.?path.orValue("").startsWith("prod/")\' }\nagents:\n  bot:\n    rules:\n';
    const guard = '      - { id: g, effect: review, tools: "vault.*", targets: [vault] }\n';
    const w = warnings(`${base}      - { id: r, effect: allow, tools: "vault.read" }\n`);
    expect(w.map((x) => x.code)).toEqual(['TARGET_UNUSED', 'ALLOW_SENSITIVE_TARGET']);
    expect(w[1]?.message).toMatch(
      /may allow calls that hit sensitive target vault without review; add a review or block rule with targets: \[vault\]/,
    );
    expect(codes(`${base}${guard}      - { id: r, effect: allow, tools: "vault.read" }\n`)).toEqual([]);
    expect(
      codes(`${base}${guard}      - { id: r, effect: allow, tools: "vault.read", targets: [vault] }\n`),
    ).toEqual(['ALLOW_SENSITIVE_TARGET']);
    expect(codes(`${base}${guard}      - { id: r, effect: allow, tools: "docs.read" }\n`)).toEqual([]);
  });

  it('a guard in only some of the plans that contain a group rule still warns', () => {
    const text = `
targets:
  vault: { tools: ["vault.*"] }
groups:
  g: { rules: [{ id: r, effect: allow, tools: vault.read }] }
agents:
  a: { groups: [g], rules: [{ id: guard, effect: block, tools: "vault.*", targets: [vault] }] }
  b: { groups: [g] }
`;
    expect(codes(text)).toContain('ALLOW_SENSITIVE_TARGET');
  });

  it('accept silences a reviewed warning on one rule, with its reason', () => {
    const text =
      'agents:\n  bot:\n    rules:\n      - id: r\n        effect: allow\n        tools: "*"\n        accept: { ALLOW_WILDCARD: Sandbox agent with no real tools attached. }\n';
    expect(codes(text)).toEqual([]);
    const { diagnostics } = analyzePolicy([
      { file: 'p.yaml', text: text.replace('ALLOW_WILDCARD', 'CEL_SYNTAX') },
    ]);
    expect(diagnostics[0]?.code).toBe('UNKNOWN_KEY');
  });

  it('unused targets, wildcard-only globs and late escalations', () => {
    expect(codes('targets:\n  t: { tools: x }\n')).toEqual(['TARGET_UNUSED']);
    expect(codes('agents:\n  bot:\n    rules:\n      - { id: r, effect: allow, tools: "*.*" }\n')).toEqual([
      'ALLOW_WILDCARD',
    ]);
    const late =
      'agents:\n  bot:\n    rules:\n      - { id: r, effect: review, tools: t, approval: { timeout: 10m, escalate: { after: 15m, to: { roles: [admin] } } } }\n';
    expect(codes(late)).toEqual(['ESCALATION_TOO_LATE']);
  });

  it('a block on a tools-only target shadows the allows it covers', () => {
    const text =
      'targets:\n  vault: { tools: ["vault.*"] }\nagents:\n  "*":\n    rules:\n      - { id: b, effect: block, tools: "*", targets: [vault] }\n  bot:\n    rules:\n      - { id: r, effect: allow, tools: vault.read }\n';
    const w = warnings(text);
    expect(w.map((x) => x.code)).toEqual(['RULE_SHADOWED']);
  });

  it('review rules nobody can approve', () => {
    const rule = (approval: string) =>
      `approverGroups:\n  dba: [dana]\n  empty: []\nagents:\n  bot:\n    rules:\n      - { id: r, effect: review, tools: t, approval: ${approval} }\n`;
    expect(codes(rule('{ approvers: {} }'))).toEqual(['REVIEW_UNAPPROVABLE']);
    expect(codes(rule('{ approvers: { roles: [agent, auditor] } }'))).toEqual(['REVIEW_UNAPPROVABLE']);
    expect(codes(rule('{ approvers: { groups: [dba] }, quorum: 2 }'))).toEqual(['REVIEW_UNAPPROVABLE']);
    expect(codes(rule('{ approvers: { agents: [bot] } }'))).toEqual(['REVIEW_UNAPPROVABLE']);
    expect(codes(rule('{ approvers: { roles: [approver] }, requireEach: [empty] }'))).toEqual([
      'REVIEW_UNAPPROVABLE',
    ]);
    expect(codes(rule('{ approvers: { groups: [dba] } }'))).toEqual([]);
    expect(warnings(rule('{ approvers: { groups: [dba] }, quorum: 3 }'))[0]?.message).toMatch(
      /quorum is 3 but only 1/,
    );
  });

  it('a timeout that allows', () => {
    expect(
      codes(
        'agents:\n  bot:\n    rules:\n      - { id: r, effect: review, tools: t, approval: { onTimeout: allow } }\n',
      ),
    ).toEqual(['TIMEOUT_ALLOWS']);
  });

  it('approval settings on a rule that is not review', () => {
    expect(
      codes(
        'agents:\n  bot:\n    rules:\n      - { id: r, effect: block, tools: t, approval: { quorum: 2 } }\n',
      ),
    ).toEqual(['APPROVAL_IGNORED']);
  });

  it('rules that can never match', () => {
    expect(codes('groups:\n  lonely: { rules: [{ id: r, effect: allow, tools: t }] }\n')).toEqual([
      'RULE_NEVER_MATCHES',
    ]);
    expect(
      codes('agents:\n  bot:\n    rules:\n      - { id: r, effect: allow, tools: t, when: "false" }\n'),
    ).toEqual(['RULE_NEVER_MATCHES']);
    const rule = (when: string) =>
      `agents:\n  bot:\n    rules:\n      - id: r\n        effect: allow\n        tools: t\n        when: ${when}\n`;
    expect(codes(rule(`'1 > 2 || "a" == "b"'`))).toEqual(['RULE_NEVER_MATCHES']);
    expect(codes(rule(`'tool == "x" && false'`))).toEqual([]);
    const disjoint =
      'targets:\n  db: { tools: ["db.*"] }\nagents:\n  bot:\n    rules:\n      - { id: r, effect: review, tools: "mail.send", targets: [db] }\n';
    expect(warnings(disjoint)[0]?.message).toMatch(/never overlap/);
  });

  it('rules shadowed by an unconditional rule of higher or equal precedence', () => {
    const text = `
agents:
  "*":
    rules:
      - { id: no-shell, effect: block, tools: "shell.*" }
  bot:
    rules:
      - { id: shell-ls, effect: allow, tools: shell.ls }
      - { id: db-any, effect: allow, tools: "db.*" }
      - { id: db-read, effect: allow, tools: db.read }
      - { id: db-write, effect: review, tools: db.write, when: 'args.rows > 10' }
`;
    const ws = warnings(text);
    expect(ws.map((w) => w.code)).toEqual(['RULE_SHADOWED', 'RULE_SHADOWED']);
    expect(ws[0]?.message).toMatch(/rule shell-ls: .*no-shell \(block\)/);
    expect(ws[1]?.message).toMatch(/rule db-read: .*db-any already decides/);
  });

  it('a group rule shadowed for only some of its agents is not reported', () => {
    const text = `
groups:
  g: { rules: [{ id: g-read, effect: allow, tools: db.read }] }
agents:
  a: { groups: [g], rules: [{ id: a-block, effect: block, tools: "db.*" }] }
  b: { groups: [g] }
`;
    expect(codes(text)).toEqual([]);
  });
});
