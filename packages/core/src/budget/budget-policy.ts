import type { SourceRef } from '../policy/compiled-policy.js';
import type { Diagnostic } from '../policy/diagnostic.js';
import { parseDuration } from '../policy/duration.js';
import { compileGlob, type GlobMatcher } from '../policy/glob.js';
import type { BreakersSpec, BudgetSpec, PolicyDocument } from '../policy/policy-schema.js';
import { diag } from '../policy/yaml-source.js';
import type { BudgetMetric, BudgetScope, BudgetWindow } from './budget-line.js';
import { isTimeZone } from './budget-window.js';

/** A budget ready to apply: where it was declared decides whose spending a team scope pools. */
export interface CompiledBudget {
  readonly id: string;
  readonly metric: BudgetMetric;
  readonly limit: number;
  readonly scope: BudgetScope;
  readonly window: BudgetWindow;
  /** For scope tag: the label whose value names the scope. */
  readonly tag?: string;
  /** For scope team: the group that declared it. */
  readonly team?: string;
  readonly tools?: GlobMatcher;
  /** Alert thresholds in percent, ascending. */
  readonly alerts: readonly number[];
  /** `defaults`, `groups.<name>` or `agents.<name>`. */
  readonly section: string;
}

/** Resolved breaker thresholds; an absent one is off. */
export interface BreakerSettings {
  readonly repeat?: { readonly max: number; readonly withinMs: number };
  readonly pingPong?: { readonly cycles: number; readonly withinMs: number };
  readonly rate?: { readonly perMinute: number };
  readonly tokenBurn?: {
    readonly expectedPerMinute: number;
    readonly factor: number;
    readonly overMs: number;
  };
}

/** What budgets and breakers an agent is subject to. */
export interface AgentLimits {
  readonly budgets: readonly CompiledBudget[];
  readonly breakers: BreakerSettings;
}

/** The budget part of a compiled policy. */
export interface BudgetPolicy {
  readonly timeZone: string;
  /** Every budget by id. */
  readonly budgets: ReadonlyMap<string, CompiledBudget>;
  /** The budgets and breakers of one agent, given the groups it belongs to (cached per agent). */
  forAgent(agent: string): AgentLimits;
}

export const DEFAULT_ALERTS = [50, 80, 100] as const;

export const DEFAULT_BREAKERS: BreakerSettings = {
  repeat: { max: 10, withinMs: 10 * 60_000 },
  pingPong: { cycles: 5, withinMs: 10 * 60_000 },
  rate: { perMinute: 120 },
  tokenBurn: { expectedPerMinute: 20_000, factor: 10, overMs: 5 * 60_000 },
};

/** Which scopes make sense where: a team is a group's, a global budget belongs in defaults. */
const SCOPES_IN: Record<'defaults' | 'groups' | 'agents', readonly BudgetScope[]> = {
  defaults: ['session', 'agent', 'global', 'tag'],
  groups: ['session', 'agent', 'team', 'tag'],
  agents: ['session', 'agent', 'tag'],
};

const SECTION_WORDS: Record<keyof typeof SCOPES_IN, string> = {
  defaults: 'defaults',
  groups: 'a group section',
  agents: 'an agent section',
};

interface Section {
  readonly name: string;
  readonly budgets: readonly BudgetSpec[];
  readonly src: SourceRef;
}

/**
 * Compiles the budgets and breakers of a policy. `groupsOf(agent)` lists the groups (teams) an agent
 * belongs to, inherited ones included. Problems are reported as diagnostics at the offending entry.
 */
export function compileBudgets(
  doc: PolicyDocument,
  refFor: (key: string, path: (string | number)[]) => SourceRef,
  groupsOf: (agent: string) => readonly string[],
  diagnostics: Diagnostic[],
): BudgetPolicy {
  const report = (src: SourceRef, path: (string | number)[], message: string) =>
    diagnostics.push(diag(src.yaml.file, src.yaml.locate([...src.path, ...path]), 'SCHEMA', message));
  const timeZone = doc.defaults?.timeZone ?? 'UTC';
  if (!isTimeZone(timeZone)) {
    report(
      refFor('defaults', ['defaults']),
      ['timeZone'],
      `unknown time zone "${timeZone}": use an IANA name such as UTC, Europe/Berlin or America/New_York`,
    );
  }
  const sections: Section[] = [];
  if (doc.defaults?.budgets)
    sections.push({ name: 'defaults', budgets: doc.defaults.budgets, src: refFor('defaults', ['defaults']) });
  for (const [name, g] of Object.entries(doc.groups ?? {}))
    if (g.budgets)
      sections.push({
        name: `groups.${name}`,
        budgets: g.budgets,
        src: refFor(`groups.${name}`, ['groups', name]),
      });
  for (const [name, a] of Object.entries(doc.agents ?? {}))
    if (a.budgets)
      sections.push({
        name: `agents.${name}`,
        budgets: a.budgets,
        src: refFor(`agents.${name}`, ['agents', name]),
      });

  const budgets = new Map<string, CompiledBudget>();
  // Every id seen, valid or not: a budget with an error still owns its id, so a copy of it is reported too.
  const ids = new Set<string>();
  const bySection = new Map<string, CompiledBudget[]>();
  for (const s of sections) {
    const kind = s.name.split('.')[0] as keyof typeof SCOPES_IN;
    const list: CompiledBudget[] = [];
    s.budgets.forEach((b, i) => {
      const at = (...p: (string | number)[]) => ['budgets', i, ...p];
      if (ids.has(b.id)) {
        report(s.src, at('id'), `budget id "${b.id}" is used twice; budget ids must be unique in the policy`);
        return;
      }
      ids.add(b.id);
      if (!SCOPES_IN[kind].includes(b.scope)) {
        report(
          s.src,
          at('scope'),
          `scope ${b.scope} is not possible in ${SECTION_WORDS[kind]} (use ${SCOPES_IN[kind].join(', ')})`,
        );
        return;
      }
      if (b.window === 'session' && b.scope !== 'session') {
        report(
          s.src,
          at('window'),
          `window session needs scope session (a budget of scope ${b.scope} outlives any session)`,
        );
        return;
      }
      if ((b.scope === 'tag') !== (b.tag !== undefined)) {
        report(s.src, at(b.scope === 'tag' ? 'scope' : 'tag'), 'scope tag and `tag: <label>` go together');
        return;
      }
      let tools: GlobMatcher | undefined;
      if (b.tools !== undefined) {
        tools = compileTools(b.tools, (j, message) => {
          const path = typeof b.tools === 'string' ? at('tools') : at('tools', j);
          diagnostics.push(
            diag(s.src.yaml.file, s.src.yaml.locate([...s.src.path, ...path]), 'BAD_GLOB', message),
          );
        });
        if (!tools) return;
      }
      const compiled: CompiledBudget = {
        id: b.id,
        metric: b.metric,
        limit: b.limit,
        scope: b.scope,
        window: b.window,
        ...(b.tag ? { tag: b.tag } : {}),
        ...(b.scope === 'team' ? { team: s.name.slice('groups.'.length) } : {}),
        ...(tools ? { tools } : {}),
        alerts: [...new Set(b.alerts ?? DEFAULT_ALERTS)].sort((x, y) => x - y),
        section: s.name,
      };
      budgets.set(b.id, compiled);
      list.push(compiled);
    });
    bySection.set(s.name, list);
  }

  const defaults = resolveBreakers(DEFAULT_BREAKERS, doc.defaults?.breakers);
  const cache = new Map<string, AgentLimits>();
  return {
    timeZone,
    budgets,
    forAgent(agent) {
      let hit = cache.get(agent);
      if (hit) return hit;
      // Own keys only: an agent called `constructor` has no section of that name.
      const named = agent !== '*' && doc.agents !== undefined && Object.hasOwn(doc.agents, agent);
      const secs = [
        'defaults',
        ...(named ? [`agents.${agent}`] : []),
        'agents.*',
        ...groupsOf(agent).map((g) => `groups.${g}`),
      ];
      const own = [...new Set(secs)].flatMap((s) => bySection.get(s) ?? []);
      const breakers = resolveBreakers(
        resolveBreakers(defaults, doc.agents?.['*']?.breakers),
        named ? doc.agents?.[agent]?.breakers : undefined,
      );
      hit = { budgets: own, breakers };
      if (cache.size > 10_000) cache.clear();
      cache.set(agent, hit);
      return hit;
    },
  };
}

/** One matcher for a budget's tool glob(s); undefined (each bad glob reported) when one does not compile. */
function compileTools(
  globs: string | readonly string[],
  bad: (index: number, message: string) => void,
): GlobMatcher | undefined {
  const ms: GlobMatcher[] = [];
  (typeof globs === 'string' ? [globs] : globs).forEach((g, i) => {
    try {
      ms.push(compileGlob(g));
    } catch (err) {
      bad(i, (err as Error).message);
    }
  });
  const count = typeof globs === 'string' ? 1 : globs.length;
  return ms.length === count ? (n) => ms.some((m) => m(n)) : undefined;
}

/**
 * `base` with the fields of `spec` on top; `false` switches a breaker off. An omitted optional field of
 * tokenBurn keeps the value `base` has (an agent raising the rate keeps the factor its defaults chose).
 */
function resolveBreakers(base: BreakerSettings, spec: BreakersSpec | undefined): BreakerSettings {
  if (!spec) return base;
  const out: { -readonly [K in keyof BreakerSettings]: BreakerSettings[K] } = { ...base };
  const ms = (d: string) => parseDuration(d) ?? 0;
  if (spec.repeat === false) delete out.repeat;
  else if (spec.repeat) out.repeat = { max: spec.repeat.max, withinMs: ms(spec.repeat.within) };
  if (spec.pingPong === false) delete out.pingPong;
  else if (spec.pingPong) out.pingPong = { cycles: spec.pingPong.cycles, withinMs: ms(spec.pingPong.within) };
  if (spec.rate === false) delete out.rate;
  else if (spec.rate) out.rate = { perMinute: spec.rate.perMinute };
  if (spec.tokenBurn === false) delete out.tokenBurn;
  else if (spec.tokenBurn) {
    const inherited =
      base.tokenBurn ?? (DEFAULT_BREAKERS.tokenBurn as NonNullable<BreakerSettings['tokenBurn']>);
    out.tokenBurn = {
      expectedPerMinute: spec.tokenBurn.expectedPerMinute,
      factor: spec.tokenBurn.factor ?? inherited.factor,
      overMs: spec.tokenBurn.over ? ms(spec.tokenBurn.over) : inherited.overMs,
    };
  }
  return out;
}
