import type { AgentPlan, CompiledRule } from './compiled-policy.js';
import type { Effect } from './policy-schema.js';

/** Precedence of the tiers: lower decides first (deny-overrides). */
export const TIER: Readonly<Record<Effect, number>> = { block: 0, review: 1, allow: 2 };

/**
 * The plan of one agent: every rule of its own section, its groups (in inheritance order) and `*`,
 * sorted block → review → allow, then most specific section first, then declaration order. The first
 * matching rule in this order decides.
 */
export function buildPlan(
  agent: string,
  groups: readonly string[],
  sectionRules: ReadonlyMap<string, readonly CompiledRule[]>,
): AgentPlan {
  const sections = [`agents.${agent}`, ...groups.map((g) => `groups.${g}`)];
  if (agent !== '*') sections.push('agents.*');
  const unique = [...new Set(sections)];
  const rank = new Map(unique.map((s, i) => [s, i]));
  const rules = unique.flatMap((s) => sectionRules.get(s) ?? []);
  rules.sort(
    (a, b) =>
      TIER[a.effect] - TIER[b.effect] ||
      (rank.get(a.section) ?? 0) - (rank.get(b.section) ?? 0) ||
      a.order - b.order,
  );
  return {
    agent,
    sections: unique.filter((s) => sectionRules.has(s) || s === `agents.${agent}`),
    rules,
    byTool: new Map(),
  };
}
