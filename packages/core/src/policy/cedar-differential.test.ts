import { describe, expect, it } from 'vitest';
import { authorizeAll } from '../../test-support/cedar-authorizer.js';
import {
  cedarRequestFor,
  type GeneratedCall,
  generateCalls,
  generatePolicy,
} from '../../test-support/policy-generator.js';
import type { Decision } from './decision.js';
import { compilePolicy } from './policy-compiler.js';
import { evaluate, type RuleObserver } from './policy-evaluator.js';

/**
 * Differential test: the same generated policy (allow/block only) as Warden YAML and as Cedar, and random
 * calls through both engines. They must agree on the decision and on the rules that determine it
 * (Warden's matching rules of the deciding effect ⇔ Cedar's satisfied permits on allow / forbids on deny).
 */

interface Stats {
  calls: number;
  allow: number;
  blockByRule: number;
  blockByDefault: number;
  unknownAgents: number;
  whenTrue: number;
  whenFalse: number;
  targetHit: number;
  targetMiss: number;
}

async function runDifferential(
  seed: number,
  rules: number,
  callCount: number,
): Promise<{ stats: Stats; failures: string[] }> {
  const gen = generatePolicy({ seed, rules, effects: ['allow', 'block'] });
  const policy = compilePolicy(gen.yaml, `generated-${seed}-${rules}.yaml`);
  const effectOf = new Map(gen.model.rules.map((r) => [r.id, r.effect]));
  const known = new Set(gen.model.agents.map((a) => a.name));
  const calls = generateCalls(gen.model, callCount, seed * 31 + 7);
  // Cedar is the slow side (~1 ms a request here), so it runs first, on every core.
  const answers = await authorizeAll(
    gen.cedar,
    calls.map((c) => cedarRequestFor(gen.model, c)),
  );

  const stats: Stats = {
    calls: 0,
    allow: 0,
    blockByRule: 0,
    blockByDefault: 0,
    unknownAgents: 0,
    whenTrue: 0,
    whenFalse: 0,
    targetHit: 0,
    targetMiss: 0,
  };
  const observer: RuleObserver = {
    rule(_rule, _toolMatched, outcome) {
      if (outcome?.when === true) stats.whenTrue++;
      else if (outcome?.when === false) stats.whenFalse++;
      for (const t of outcome?.targets ?? []) {
        if (t.result === true) stats.targetHit++;
        else if (t.result === false) stats.targetMiss++;
      }
    },
  };
  const failures: string[] = [];
  const report = (
    call: GeneratedCall,
    d: Decision,
    cedarDecision: string,
    cedarRules: readonly string[],
    why: string,
  ) =>
    failures.push(
      [
        `${why}`,
        `  call:   ${JSON.stringify(call)}`,
        `  warden: ${d.effect} (rule ${d.ruleId ?? 'default'}); matched [${d.matchedRuleIds.join(', ')}]` +
          (d.conditionErrors ? `; condition errors ${JSON.stringify(d.conditionErrors)}` : ''),
        `  cedar:  ${cedarDecision}; determining [${cedarRules.join(', ')}]`,
      ].join('\n'),
    );

  for (const [i, call] of calls.entries()) {
    stats.calls++;
    if (!known.has(call.agent)) stats.unknownAgents++;
    const d = evaluate(policy, call);
    const traced = evaluate(policy, call, observer);
    const answer = answers[i] as (typeof answers)[number];
    const cedarRules = answer.reasons
      .map((p) => gen.cedarRuleIds[Number(p.replace(/^policy/, ''))] ?? `?${p}`)
      .sort();

    if (d.effect === 'allow') stats.allow++;
    else if (d.ruleId) stats.blockByRule++;
    else stats.blockByDefault++;

    if (d.effect === 'review' || d.conditionErrors) {
      report(
        call,
        d,
        answer.decision,
        cedarRules,
        'Warden produced a review or a condition error on an allow/block policy with complete args',
      );
    } else if ((d.effect === 'allow') !== (answer.decision === 'allow')) {
      report(call, d, answer.decision, cedarRules, 'DECISION DIFFERS');
    } else {
      const wardenRules = d.matchedRuleIds.filter((id) => effectOf.get(id) === d.effect).sort();
      if (wardenRules.join() !== cedarRules.join())
        report(call, d, answer.decision, cedarRules, 'DETERMINING RULES DIFFER');
    }
    if (traced.effect !== d.effect || traced.matchedRuleIds.join() !== d.matchedRuleIds.join()) {
      report(
        call,
        d,
        answer.decision,
        cedarRules,
        `evaluate with an observer disagrees with the fast path: ${traced.effect} [${traced.matchedRuleIds.join(', ')}]`,
      );
    }
  }
  return { stats, failures };
}

function check({ stats, failures }: { stats: Stats; failures: string[] }): void {
  if (failures.length > 0) {
    console.error(
      `${failures.length} disagreement(s) in ${stats.calls} calls; the first ones:\n\n${failures.slice(0, 10).join('\n\n')}`,
    );
  }
  expect(failures.slice(0, 10), `${failures.length} disagreement(s)`).toEqual([]);
  // The calls must exercise every outcome, or agreement would mean little.
  const share = (n: number) => n / stats.calls;
  expect(share(stats.allow), 'share of allowed calls').toBeGreaterThan(0.15);
  expect(share(stats.blockByRule), 'share of calls blocked by a rule').toBeGreaterThan(0.05);
  expect(share(stats.blockByDefault), 'share of calls blocked by default').toBeGreaterThan(0.05);
  expect(share(stats.unknownAgents), 'share of calls from unknown agents').toBeGreaterThan(0.05);
  expect(stats.whenTrue, 'rule conditions that were true').toBeGreaterThan(stats.calls / 10);
  expect(stats.whenFalse, 'rule conditions that were false').toBeGreaterThan(stats.calls / 10);
  expect(stats.targetHit, 'target checks that hit').toBeGreaterThan(stats.calls / 100);
  expect(stats.targetMiss, 'target checks that missed').toBeGreaterThan(stats.calls / 100);
}

describe('Warden and Cedar agree on generated policies', () => {
  it('300 rules, 10,000 random calls', async () => {
    check(await runDifferential(11, 300, 10_000));
  });

  it('1,000 rules (100 agents), 1,500 random calls', async () => {
    check(await runDifferential(12, 1000, 1_500));
  });
});
