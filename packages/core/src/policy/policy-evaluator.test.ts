import { describe, expect, it } from 'vitest';
import { compilePolicy } from './policy-compiler.js';
import { evaluate } from './policy-evaluator.js';

const POLICY = `
defaults:
  approval: { approvers: { roles: [approver] }, timeout: 10m }
approverGroups:
  dba: [dana, dmitri]
targets:
  prod-db:
    tools: ["db.*"]
    when: 'args.?database.orValue("").startsWith("prod")'
  prod-declared:
    match: "prod-*"
  pci:
    labels: { data: pci }
groups:
  base:
    rules:
      - { id: base-read, effect: allow, tools: ["docs.*"] }
  eng:
    extends: [base]
    rules:
      - { id: eng-db, effect: allow, tools: ["db.*"] }
agents:
  "*":
    rules:
      - { id: all-block-pci, effect: block, tools: "*", targets: [pci] }
  bot:
    groups: [eng]
    rules:
      - id: prod-review
        effect: review
        tools: ["db.*"]
        targets: [prod-db, prod-declared]
        reason: prod needs a DBA
        approval: { approvers: { groups: [dba] }, quorum: 2 }
      - { id: big-block, effect: block, tools: db.query, when: 'args.?rows.orValue(0) > 1000' }
      - { id: night, effect: block, tools: "deploy.*", when: 'now.getHours("UTC") < 6' }
      - { id: deploy, effect: allow, tools: "deploy.*" }
      - { id: chain-review, effect: review, tools: "mail.send", when: '"planner" in delegationChain' }
      - { id: mail, effect: allow, tools: "mail.send", when: 'triggeredBy.endsWith("@acme.example")' }
`;
const policy = compilePolicy(POLICY);
const call = (over: Record<string, unknown>) => evaluate(policy, { agent: 'bot', tool: 'db.query', ...over });

describe('evaluate', () => {
  it('allows through inherited group rules, and names the rule', () => {
    const d = call({ args: { database: 'staging' } });
    expect(d).toMatchObject({
      effect: 'allow',
      policyEffect: 'allow',
      ruleId: 'eng-db',
      matchedRuleIds: ['eng-db'],
      mode: 'enforce',
    });
    expect(d.policyVersion).toBe(policy.version);
    expect(call({ tool: 'docs.read' }).ruleId).toBe('base-read');
  });

  it('review beats allow, block beats review, and every match is listed in precedence order', () => {
    const review = call({ args: { database: 'prod-main' } });
    expect(review).toMatchObject({
      effect: 'review',
      ruleId: 'prod-review',
      matchedRuleIds: ['prod-review', 'eng-db'],
    });
    expect(review.reasons).toEqual(['prod needs a DBA']);
    const block = call({ args: { database: 'prod-main', rows: 5000 } });
    expect(block).toMatchObject({
      effect: 'block',
      ruleId: 'big-block',
      matchedRuleIds: ['big-block', 'prod-review', 'eng-db'],
    });
  });

  it('a review decision carries the resolved approval requirement', () => {
    const d = call({ args: { database: 'prod-main' } });
    expect(d.approval).toMatchObject({
      approvers: { groups: ['dba'], roles: [] },
      quorum: 2,
      timeoutMs: 600_000,
      onTimeout: 'block',
    });
  });

  it('carries the approval requirement of every matched review rule, the deciding one first', () => {
    const p = compilePolicy(`
agents:
  "*":
    rules: [{ id: shared, effect: review, tools: db.write, approval: { quorum: 2, approvers: { roles: [dba] } } }]
  bot:
    rules:
      - { id: lenient, effect: review, tools: db.write }
      - { id: again, effect: review, tools: "db.*" }
`);
    const d = evaluate(p, { agent: 'bot', tool: 'db.write' });
    expect(d.ruleId).toBe('lenient');
    expect(d.approval?.quorum).toBe(1);
    expect(d.approvals?.map((a) => a.quorum)).toEqual([1, 2]);
    expect(evaluate(p, { agent: 'bot', tool: 'db.read' }).approvals).toHaveLength(1);
    expect(evaluate(p, { agent: 'x', tool: 'nothing' }).approvals).toBeUndefined();
  });

  it('targets match on the declared target and on labels', () => {
    expect(call({ target: 'prod-eu' }).ruleId).toBe('prod-review');
    expect(call({ target: 'staging-eu' }).ruleId).toBe('eng-db');
    expect(call({ labels: { data: 'pci' } }).ruleId).toBe('all-block-pci');
    expect(call({ labels: { data: 'public' } }).ruleId).toBe('eng-db');
  });

  it('the wildcard section applies to agents the policy does not name; nothing else does', () => {
    expect(evaluate(policy, { agent: 'stranger', tool: 'docs.read' })).toMatchObject({
      effect: 'block',
      ruleId: null,
    });
    expect(evaluate(policy, { agent: 'stranger', tool: 'x', labels: { data: 'pci' } }).ruleId).toBe(
      'all-block-pci',
    );
  });

  it('defaults to block with a reason when nothing matches', () => {
    const d = call({ tool: 'shell.exec' });
    expect(d).toMatchObject({ effect: 'block', ruleId: null, matchedRuleIds: [] });
    expect(d.reasons[0]).toMatch(/default decision is block/);
  });

  it('sees now, triggeredBy and the delegation chain', () => {
    expect(call({ tool: 'deploy.run', now: new Date('2026-01-01T03:00:00Z') }).ruleId).toBe('night');
    expect(call({ tool: 'deploy.run', now: new Date('2026-01-01T12:00:00Z') }).ruleId).toBe('deploy');
    expect(call({ tool: 'mail.send', triggeredBy: 'ann@acme.example' }).effect).toBe('allow');
    expect(
      call({ tool: 'mail.send', triggeredBy: 'ann@acme.example', delegationChain: ['planner'] }).effect,
    ).toBe('review');
    expect(call({ tool: 'mail.send', triggeredBy: 'mallory@evil.example' }).effect).toBe('block');
  });

  it('fails closed: an erroring condition counts as a match for block and review, not for allow', () => {
    const d = call({ args: { database: 'staging', rows: 'lots' } });
    expect(d.effect).toBe('block');
    expect(d.ruleId).toBe('big-block');
    expect(d.conditionErrors?.[0]).toMatchObject({ ruleId: 'big-block', treatedAs: 'match' });
    expect(d.reasons.join(' ')).toMatch(/fail closed/);
    const mail = call({ tool: 'mail.send', triggeredBy: undefined, args: {} });
    expect(mail.effect).toBe('block');
  });

  it('an allow condition that errors does not allow', () => {
    const p = compilePolicy(
      `agents:\n  bot:\n    rules:\n      - { id: a, effect: allow, tools: x, when: 'args.n > 1' }\n`,
    );
    const d = evaluate(p, { agent: 'bot', tool: 'x', args: {} });
    expect(d).toMatchObject({ effect: 'block', ruleId: null });
    expect(d.conditionErrors?.[0]).toMatchObject({ ruleId: 'a', treatedAs: 'no-match' });
  });

  it('monitor mode allows everything and records what would have happened', () => {
    const p = compilePolicy(`mode: monitor\n${POLICY}`);
    const d = evaluate(p, { agent: 'bot', tool: 'db.query', args: { database: 'prod', rows: 9999 } });
    expect(d).toMatchObject({ effect: 'allow', policyEffect: 'block', mode: 'monitor', ruleId: 'big-block' });
    expect(d.reasons.at(-1)).toMatch(/would have been block/);
  });

  it('a default of review carries the default approval', () => {
    const p = compilePolicy(
      'defaults: { decision: review, approval: { quorum: 2, approvers: { roles: [approver] } } }\n',
    );
    expect(evaluate(p, { agent: 'a', tool: 't' })).toMatchObject({
      effect: 'review',
      ruleId: null,
      approval: { quorum: 2 },
    });
  });

  it('keeps the per-tool cache bounded under hostile tool names, with unchanged answers', () => {
    for (let i = 0; i < 10_000; i++) call({ tool: `db.random${i}` });
    expect(policy.plans.get('bot')?.byTool.size).toBeLessThanOrEqual(4096);
    expect(call({ args: { database: 'staging' } }).ruleId).toBe('eng-db');
  });

  it('agent-specific rules decide before group and wildcard rules of the same tier', () => {
    const p = compilePolicy(`
groups:
  g: { rules: [{ id: g-allow, effect: allow, tools: t }] }
agents:
  "*": { rules: [{ id: star-allow, effect: allow, tools: t }] }
  bot: { groups: [g], rules: [{ id: own-allow, effect: allow, tools: t }] }
`);
    expect(evaluate(p, { agent: 'bot', tool: 't' }).matchedRuleIds).toEqual([
      'own-allow',
      'g-allow',
      'star-allow',
    ]);
  });
});
