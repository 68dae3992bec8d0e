/**
 * Deterministic generator of realistic Warden policies for the Cedar differential test and the benchmark.
 *
 * One abstract model (agents, groups, targets, rules with tool globs and argument conditions) is emitted
 * twice: as Warden policy YAML and as a Cedar policy set with the same meaning. Every condition template
 * has an exact Cedar equivalent, and every generated call carries every argument a condition reads, so
 * neither engine ever hits a missing-key error (Warden fails closed on errors, Cedar skips the policy).
 *
 * Cedar mapping: principal `Agent::"name"` whose parents are its `Group::"g"` entities (a group's parents
 * are the groups it extends); one action `Action::"call"`; resource `Tool::"<tool>"`; context
 * `{ tool, args }`. Agent section → `principal == Agent::"x"`, group section → `principal in Group::"g"`,
 * `*` section → any principal; block → forbid, allow → permit, review → `@effect("review") permit`.
 */
import type { EntityJson, EntityUidJson } from '@cedar-policy/cedar-wasm/nodejs';
import { stringify } from 'yaml';
import type { Effect, ToolCall } from '../src/index.js';
import type { CedarAuthzRequest } from './cedar-authorizer.js';

// ---------------------------------------------------------------------------------------------------------
// Seeded PRNG

/** A small seeded PRNG (mulberry32) with the helpers the generator needs. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(list: readonly T[]): T {
    if (list.length === 0) throw new Error('pick from an empty list');
    return list[this.int(list.length)] as T;
  }
  /** Picks `k` distinct elements (or all of them when the list is shorter). */
  sample<T>(list: readonly T[], k: number): T[] {
    const copy = [...list];
    const out: T[] = [];
    while (out.length < k && copy.length > 0) out.push(copy.splice(this.int(copy.length), 1)[0] as T);
    return out;
  }
  weighted<T extends string>(weights: Readonly<Partial<Record<T, number>>>): T {
    const entries = Object.entries(weights) as [T, number][];
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let x = this.next() * total;
    for (const [k, w] of entries) {
      x -= w;
      if (x < 0) return k;
    }
    return (entries[entries.length - 1] as [T, number])[0];
  }
}

// ---------------------------------------------------------------------------------------------------------
// The abstract model

/** Argument conditions. Each kind renders to CEL and to Cedar with exactly the same meaning. */
export type Cond =
  | { readonly kind: 'amount'; readonly op: '>' | '>=' | '<' | '<=' | '=='; readonly value: number }
  | {
      readonly kind: 'strEq';
      readonly key: 'env' | 'table';
      readonly value: string;
      readonly negate: boolean;
    }
  | { readonly kind: 'strIn'; readonly key: 'env' | 'table'; readonly values: readonly string[] }
  | { readonly kind: 'pathPrefix'; readonly value: string }
  | { readonly kind: 'toolSuffix'; readonly value: string }
  | { readonly kind: 'dryRun'; readonly value: boolean }
  | { readonly kind: 'and' | 'or'; readonly parts: readonly Cond[] }
  | { readonly kind: 'not'; readonly part: Cond };

export type Section =
  | { readonly kind: 'agent'; readonly name: string }
  | { readonly kind: 'group'; readonly name: string }
  | { readonly kind: 'wildcard' };

export interface ModelRule {
  readonly id: string;
  readonly section: Section;
  readonly effect: Effect;
  /** Tool globs: exact names, `svc.*` prefixes, or `*` (only together with targets). */
  readonly tools: readonly string[];
  readonly targets?: readonly string[];
  readonly when?: Cond;
}

export interface ModelTarget {
  readonly name: string;
  readonly tools: readonly string[];
  readonly when?: Cond;
}

export interface ModelGroup {
  readonly name: string;
  readonly extends: readonly string[];
}

export interface ModelAgent {
  readonly name: string;
  readonly groups: readonly string[];
}

export interface PolicyModel {
  readonly seed: number;
  readonly services: readonly string[];
  /** Every tool name (`svc.verb`) the policy and the calls use. */
  readonly tools: readonly string[];
  readonly groups: readonly ModelGroup[];
  readonly agents: readonly ModelAgent[];
  /** Agent names the policy does not know; calls use them ~10% of the time (only `*` applies). */
  readonly unknownAgents: readonly string[];
  readonly targets: readonly ModelTarget[];
  readonly rules: readonly ModelRule[];
}

export interface GeneratorOptions {
  /** PRNG seed; the same seed and options always give the same policy. Default 1. */
  readonly seed?: number;
  /** Exact number of rules. Default 1,000. */
  readonly rules?: number;
  /** Effects rules may have. Default all three; the differential test uses ['allow', 'block']. */
  readonly effects?: readonly Effect[];
  /** Number of agents. Default 100. */
  readonly agents?: number;
}

export interface GeneratedPolicy {
  readonly model: PolicyModel;
  /** The policy as Warden YAML. */
  readonly yaml: string;
  /** The same policy as a Cedar policy set (text). */
  readonly cedar: string;
  /** Cedar names static policies `policy0`, `policy1`, … in text order; entry i is the rule id of `policy<i>`. */
  readonly cedarRuleIds: readonly string[];
}

/** The argument values calls draw from. Conditions read exactly these keys. */
export const ARG_VALUES = {
  env: ['prod', 'staging', 'dev', 'test'],
  table: ['users', 'orders', 'payments', 'audit', 'sessions', 'logs'],
  path: [
    '/etc/passwd',
    '/etc/hosts',
    '/root/.ssh/id_rsa',
    '/var/log/app.log',
    '/home/app/report.csv',
    '/tmp/scratch',
    '/srv/www/index.html',
  ],
  pathPrefixes: ['/etc', '/root', '/var/log', '/home', '/tmp'],
  amountThresholds: [0, 10, 50, 100, 250, 500, 1000, 5000],
} as const;

const SERVICES = [
  'db',
  'sql',
  'billing',
  'stripe',
  'payroll',
  'ledger',
  'github',
  'ci',
  'deploy',
  'k8s',
  'email',
  'slack',
  'sms',
  'calendar',
  'vault',
  'secrets',
  'iam',
  'sso',
  's3',
  'drive',
  'backup',
  'docs',
  'wiki',
  'search',
  'tickets',
  'crm',
  'jira',
  'pagerduty',
  'dns',
  'cdn',
  'analytics',
  'metrics',
  'logs',
  'queue',
  'cache',
  'hr',
  'vpn',
  'firewall',
  'notes',
  'lambda',
] as const;

const VERBS = [
  'read',
  'list',
  'get',
  'search',
  'create',
  'update',
  'write',
  'delete',
  'query',
  'execute',
  'send',
  'export',
  'run',
  'approve',
] as const;

/** Groups and what they extend: a small DAG with a shared base and one diamond. */
const GROUPS: readonly ModelGroup[] = [
  { name: 'staff', extends: [] },
  { name: 'engineering', extends: ['staff'] },
  { name: 'platform', extends: ['engineering'] },
  { name: 'data', extends: ['engineering'] },
  { name: 'security', extends: ['staff'] },
  { name: 'sre', extends: ['platform', 'security'] },
  { name: 'finance', extends: ['staff'] },
  { name: 'support', extends: ['staff'] },
  { name: 'sales', extends: ['support'] },
  { name: 'contractors', extends: [] },
];

const TEAMS: readonly { readonly prefix: string; readonly group: string }[] = [
  { prefix: 'support-bot', group: 'support' },
  { prefix: 'sales-assistant', group: 'sales' },
  { prefix: 'coding-agent', group: 'engineering' },
  { prefix: 'infra-agent', group: 'platform' },
  { prefix: 'etl-agent', group: 'data' },
  { prefix: 'oncall-agent', group: 'sre' },
  { prefix: 'sec-scanner', group: 'security' },
  { prefix: 'finance-agent', group: 'finance' },
  { prefix: 'vendor-bot', group: 'contractors' },
  { prefix: 'intern-agent', group: 'staff' },
];

/** Named targets; tool globs are resolved against the generated universe. */
const TARGETS: readonly ModelTarget[] = [
  {
    name: 'production-db',
    tools: ['db.*', 'sql.*'],
    when: { kind: 'strEq', key: 'env', value: 'prod', negate: false },
  },
  { name: 'credentials', tools: ['vault.*', 'secrets.*', 'iam.*', 'sso.*'] },
  {
    name: 'money',
    tools: ['billing.*', 'stripe.*', 'payroll.*', 'ledger.*'],
    when: { kind: 'amount', op: '>', value: 1000 },
  },
  { name: 'external-comms', tools: ['email.*', 'slack.*', 'sms.*'], when: { kind: 'dryRun', value: false } },
  {
    name: 'system-files',
    tools: ['s3.*', 'drive.*', 'backup.*'],
    when: {
      kind: 'or',
      parts: [
        { kind: 'pathPrefix', value: '/etc' },
        { kind: 'pathPrefix', value: '/root' },
      ],
    },
  },
  { name: 'destructive', tools: ['*.delete', '*.execute'] },
];

const EFFECT_WEIGHTS: Record<'agent' | 'group' | 'wildcard', Record<Effect, number>> = {
  agent: { allow: 65, review: 15, block: 20 },
  group: { allow: 60, review: 15, block: 25 },
  wildcard: { allow: 20, review: 30, block: 50 },
};

// ---------------------------------------------------------------------------------------------------------
// Generation

/** Generates a policy (model, Warden YAML and Cedar text). Deterministic for a given seed and options. */
export function generatePolicy(options: GeneratorOptions = {}): GeneratedPolicy {
  const model = generateModel(options);
  const { text, ruleIds } = toCedar(model);
  return { model, yaml: toYaml(model), cedar: text, cedarRuleIds: ruleIds };
}

/** Generates the abstract model only. */
export function generateModel(options: GeneratorOptions = {}): PolicyModel {
  const seed = options.seed ?? 1;
  const ruleCount = options.rules ?? 1000;
  const agentCount = options.agents ?? 100;
  const effects = options.effects ?? ['allow', 'review', 'block'];
  if (effects.length === 0) throw new Error('effects must name at least one effect');
  const rng = new Rng(seed);

  const services = [...SERVICES];
  const tools: string[] = [];
  const verbsOf = new Map<string, string[]>();
  for (const svc of services) {
    const verbs = rng.sample(VERBS, 5).sort();
    verbsOf.set(svc, verbs);
    for (const v of verbs) tools.push(`${svc}.${v}`);
  }

  const agents: ModelAgent[] = [];
  for (let i = 0; i < agentCount; i++) {
    const team = TEAMS[i % TEAMS.length] as (typeof TEAMS)[number];
    const groups = rng.chance(0.05) ? [] : [team.group];
    if (groups.length > 0 && rng.chance(0.2)) {
      const extra = rng.pick(GROUPS).name;
      if (!groups.includes(extra)) groups.push(extra);
    }
    agents.push({
      name: `${team.prefix}-${String(Math.floor(i / TEAMS.length) + 1).padStart(2, '0')}`,
      groups,
    });
  }
  const unknownAgents = Array.from({ length: 10 }, (_, i) => `ghost-agent-${String(i + 1).padStart(2, '0')}`);

  const toolsOfTarget = new Map(
    TARGETS.map((t) => [t.name, tools.filter((tool) => t.tools.some((g) => globMatches(g, tool)))]),
  );
  const rules: ModelRule[] = [];
  for (let i = 0; i < ruleCount; i++) {
    const where = rng.weighted({ agent: 67, group: 25, wildcard: 8 });
    const section: Section =
      where === 'agent'
        ? { kind: 'agent', name: rng.pick(agents).name }
        : where === 'group'
          ? { kind: 'group', name: rng.pick(GROUPS).name }
          : { kind: 'wildcard' };
    const weights: Partial<Record<Effect, number>> = {};
    for (const e of effects) weights[e] = EFFECT_WEIGHTS[where][e];
    const effect = rng.weighted(weights);

    let ruleTools: string[];
    let targets: string[] | undefined;
    // Guardrails in `*` mostly aim at targets; elsewhere ~12% of rules do.
    if (rng.chance(where === 'wildcard' ? 0.5 : 0.12)) {
      const t = rng.sample(TARGETS, rng.chance(0.2) ? 2 : 1);
      targets = t.map((x) => x.name);
      const first = t[0] as ModelTarget;
      const candidates = toolsOfTarget.get(first.name) ?? [];
      const shape = candidates.length === 0 ? 'star' : rng.weighted({ star: 15, prefix: 50, exact: 35 });
      if (shape === 'star') ruleTools = ['*'];
      else if (shape === 'prefix') ruleTools = [`${serviceOf(rng.pick(candidates))}.*`];
      else ruleTools = rng.sample(candidates, 1 + rng.int(2));
    } else if (rng.chance(0.55)) {
      const svc = rng.pick(services);
      ruleTools = rng.sample(verbsOf.get(svc) ?? [], 1 + rng.int(3)).map((v) => `${svc}.${v}`);
      if (rng.chance(0.15)) ruleTools.push(rng.pick(tools));
      ruleTools = [...new Set(ruleTools)];
    } else {
      ruleTools = [`${rng.pick(services)}.*`];
      if (rng.chance(0.1)) ruleTools.push(`${rng.pick(services)}.*`);
      ruleTools = [...new Set(ruleTools)];
    }

    // Unconditional guardrails in `*` would decide nearly everything; give them a condition.
    const wantsWhen = where === 'wildcard' && effect !== 'allow' && !targets ? true : rng.chance(0.5);
    const when = wantsWhen ? randomCond(rng, 0) : undefined;
    rules.push({
      id: `r${String(i + 1).padStart(4, '0')}-${effect}`,
      section,
      effect,
      tools: ruleTools,
      ...(targets ? { targets } : {}),
      ...(when ? { when } : {}),
    });
  }
  return { seed, services, tools, groups: GROUPS, agents, unknownAgents, targets: TARGETS, rules };
}

function randomCond(rng: Rng, depth: number): Cond {
  const kind = rng.weighted(
    depth === 0
      ? { amount: 22, strEq: 14, strIn: 12, pathPrefix: 10, dryRun: 7, toolSuffix: 3, and: 22, or: 6, not: 4 }
      : { amount: 30, strEq: 20, strIn: 16, pathPrefix: 14, dryRun: 12, toolSuffix: 3, not: 5 },
  );
  switch (kind) {
    case 'amount':
      return {
        kind,
        op: rng.pick(['>', '>=', '<', '<=', '>', '=='] as const),
        value: rng.pick(ARG_VALUES.amountThresholds),
      };
    case 'strEq': {
      const key = rng.pick(['env', 'table'] as const);
      return { kind, key, value: rng.pick(ARG_VALUES[key]), negate: rng.chance(0.25) };
    }
    case 'strIn': {
      const key = rng.pick(['env', 'table'] as const);
      return { kind, key, values: rng.sample(ARG_VALUES[key], 2 + rng.int(2)) };
    }
    case 'pathPrefix':
      return { kind, value: rng.pick(ARG_VALUES.pathPrefixes) };
    case 'dryRun':
      return { kind, value: !rng.chance(0.7) }; // mostly `== false`
    case 'toolSuffix':
      return { kind, value: `.${rng.pick(['delete', 'write', 'execute', 'export'])}` };
    case 'and':
    case 'or':
      return {
        kind,
        parts: Array.from({ length: 2 + (rng.chance(0.25) ? 1 : 0) }, () => randomCond(rng, depth + 1)),
      };
    default:
      return { kind: 'not', part: randomCond(rng, depth + 1) };
  }
}

function serviceOf(tool: string): string {
  return tool.slice(0, tool.indexOf('.'));
}

/** Our own glob test (only `*` is ever generated), independent of the evaluator under test. */
function globMatches(glob: string, tool: string): boolean {
  const re = new RegExp(`^${glob.split('*').map(escapeRegExp).join('.*')}$`, 's');
  return re.test(tool);
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------------------
// Rendering: CEL (Warden) and Cedar

const SAFE = /^[a-z0-9/._-]*$/;

function lit(s: string): string {
  if (!SAFE.test(s))
    throw new Error(
      `generated string ${JSON.stringify(s)} needs escaping; the generator never makes such strings`,
    );
  return `"${s}"`;
}

/** A Cedar `like` pattern: `*` is the wildcard (same meaning as our glob `*`); nothing else needs escaping. */
function pattern(glob: string): string {
  return `"${glob
    .split('*')
    .map((part) => lit(part).slice(1, -1))
    .join('*')}"`;
}

/** The condition as CEL over a Warden call. */
export function celOf(c: Cond): string {
  switch (c.kind) {
    case 'amount':
      return `args.amount ${c.op} ${c.value}`;
    case 'strEq':
      return `args.${c.key} ${c.negate ? '!=' : '=='} ${lit(c.value)}`;
    case 'strIn':
      return `args.${c.key} in [${c.values.map(lit).join(', ')}]`;
    case 'pathPrefix':
      return `args.path.startsWith(${lit(c.value)})`;
    case 'toolSuffix':
      return `tool.endsWith(${lit(c.value)})`;
    case 'dryRun':
      return `args.dryRun == ${c.value}`;
    case 'and':
    case 'or':
      return c.parts.map((p) => paren(p, celOf(p))).join(c.kind === 'and' ? ' && ' : ' || ');
    case 'not':
      return `!(${celOf(c.part)})`;
  }
}

/** The condition as a Cedar expression over `context`. */
export function cedarOf(c: Cond): string {
  switch (c.kind) {
    case 'amount':
      return `context.args.amount ${c.op} ${c.value}`;
    case 'strEq':
      return `context.args.${c.key} ${c.negate ? '!=' : '=='} ${lit(c.value)}`;
    case 'strIn':
      return `[${c.values.map(lit).join(', ')}].contains(context.args.${c.key})`;
    case 'pathPrefix':
      return `context.args.path like ${pattern(`${c.value}*`)}`;
    case 'toolSuffix':
      return `context.tool like ${pattern(`*${c.value}`)}`;
    case 'dryRun':
      return `context.args.dryRun == ${c.value}`;
    case 'and':
    case 'or':
      return c.parts.map((p) => paren(p, cedarOf(p))).join(c.kind === 'and' ? ' && ' : ' || ');
    case 'not':
      return `!(${cedarOf(c.part)})`;
  }
}

function paren(c: Cond, text: string): string {
  return c.kind === 'and' || c.kind === 'or' ? `(${text})` : text;
}

/** The Warden policy document for the model, as YAML text. */
export function toYaml(model: PolicyModel): string {
  const ruleSpec = (r: ModelRule) => ({
    id: r.id,
    effect: r.effect,
    tools: r.tools.length === 1 ? r.tools[0] : [...r.tools],
    ...(r.targets ? { targets: [...r.targets] } : {}),
    ...(r.when ? { when: celOf(r.when) } : {}),
  });
  const rulesOf = (match: (s: Section) => boolean) =>
    model.rules.filter((r) => match(r.section)).map(ruleSpec);
  const agents: Record<string, unknown> = {};
  const wildcard = rulesOf((s) => s.kind === 'wildcard');
  agents['*'] = { description: 'Guardrails for every agent, including unknown ones.', rules: wildcard };
  for (const a of model.agents) {
    const rules = rulesOf((s) => s.kind === 'agent' && s.name === a.name);
    agents[a.name] = {
      ...(a.groups.length ? { groups: [...a.groups] } : {}),
      ...(rules.length ? { rules } : {}),
    };
  }
  const groups: Record<string, unknown> = {};
  for (const g of model.groups) {
    const rules = rulesOf((s) => s.kind === 'group' && s.name === g.name);
    groups[g.name] = {
      ...(g.extends.length ? { extends: [...g.extends] } : {}),
      ...(rules.length ? { rules } : {}),
    };
  }
  const targets: Record<string, unknown> = {};
  for (const t of model.targets)
    targets[t.name] = { tools: [...t.tools], ...(t.when ? { when: celOf(t.when) } : {}) };
  const doc = {
    warden: 1,
    name: `generated-${model.seed}-${model.rules.length}`,
    description: `Generated policy: ${model.agents.length} agents, ${model.groups.length} groups, ${model.rules.length} rules (seed ${model.seed}).`,
    mode: 'enforce',
    defaults: {
      decision: 'block',
      approval: { approvers: { roles: ['approver'] }, quorum: 1, timeout: '30m', onTimeout: 'block' },
    },
    targets,
    groups,
    agents,
  };
  return stringify(doc, { lineWidth: 0 });
}

function toolGlobCedar(glob: string): string | undefined {
  if (glob === '*') return undefined;
  return glob.includes('*') ? `context.tool like ${pattern(glob)}` : `context.tool == ${lit(glob)}`;
}

function anyOf(parts: readonly (string | undefined)[]): string | undefined {
  if (parts.some((p) => p === undefined)) return undefined; // one alternative is always true
  const defined = parts as string[];
  return defined.length === 1 ? defined[0] : `(${defined.join(' || ')})`;
}

function targetCedar(t: ModelTarget): string | undefined {
  const tools = anyOf(t.tools.map(toolGlobCedar));
  const when = t.when ? `(${cedarOf(t.when)})` : undefined;
  const parts = [tools, when].filter((p): p is string => p !== undefined);
  return parts.length === 0 ? undefined : parts.join(' && ');
}

/** The Cedar policy set for the model, with the rule id of each policy in text order. */
export function toCedar(model: PolicyModel): { text: string; ruleIds: string[] } {
  const targets = new Map(model.targets.map((t) => [t.name, t]));
  const out: string[] = [];
  const ruleIds: string[] = [];
  for (const r of model.rules) {
    const principal =
      r.section.kind === 'agent'
        ? `principal == Agent::${lit(r.section.name)}`
        : r.section.kind === 'group'
          ? `principal in Group::${lit(r.section.name)}`
          : 'principal';
    // A single exact tool goes in the scope (the idiomatic Cedar form); anything else is a condition.
    const only = r.tools.length === 1 ? (r.tools[0] as string) : undefined;
    const scoped = only !== undefined && !only.includes('*');
    const resource = scoped ? `resource == Tool::${lit(only)}` : 'resource';
    const conds: string[] = [];
    const tools = scoped ? undefined : anyOf(r.tools.map(toolGlobCedar));
    if (tools) conds.push(tools);
    if (r.targets) {
      const alts = r.targets.map((n) => {
        const t = targets.get(n);
        if (!t) throw new Error(`rule ${r.id} names unknown target ${n}`);
        return targetCedar(t);
      });
      const hit = alts.some((a) => a === undefined) ? undefined : alts.map((a) => `(${a})`).join(' || ');
      if (hit) conds.push(`(${hit})`);
    }
    if (r.when) conds.push(`(${cedarOf(r.when)})`);
    const annotations = [`@id(${lit(r.id)})`, ...(r.effect === 'review' ? ['@effect("review")'] : [])];
    const head = `${r.effect === 'block' ? 'forbid' : 'permit'} (${principal}, action == Action::"call", ${resource})`;
    out.push(`${annotations.join('\n')}\n${head}${conds.length ? `\nwhen { ${conds.join(' && ')} }` : ''};`);
    ruleIds.push(r.id);
  }
  return { text: `${out.join('\n\n')}\n`, ruleIds };
}

// ---------------------------------------------------------------------------------------------------------
// Calls and Cedar requests

/** The arguments every generated call carries: all keys any condition reads. */
export interface CallArgs {
  readonly amount: number;
  readonly env: string;
  readonly table: string;
  readonly path: string;
  readonly dryRun: boolean;
  readonly [key: string]: unknown;
}

export type GeneratedCall = ToolCall & { readonly args: CallArgs };

/** Group closure per agent (its groups and everything they extend), as Cedar computes `in`. */
export function groupClosure(model: PolicyModel, agent: string): string[] {
  const byName = new Map(model.groups.map((g) => [g.name, g]));
  const out: string[] = [];
  const walk = (g: string) => {
    if (out.includes(g)) return;
    out.push(g);
    for (const p of byName.get(g)?.extends ?? []) walk(p);
  };
  for (const g of model.agents.find((a) => a.name === agent)?.groups ?? []) walk(g);
  return out;
}

/**
 * `count` random calls: a known agent (~90%) or an unknown one, a tool biased towards the rules that apply
 * to that agent (so most calls hit some rule), and args with every key any condition reads.
 */
export function generateCalls(model: PolicyModel, count: number, seed = model.seed + 1): GeneratedCall[] {
  const rng = new Rng(seed ^ 0x5bd1e995);
  const applicable = new Map<string, ModelRule[]>();
  const rulesFor = (agent: string): ModelRule[] => {
    let list = applicable.get(agent);
    if (!list) {
      const groups = new Set(groupClosure(model, agent));
      list = model.rules.filter(
        (r) =>
          r.section.kind === 'wildcard' ||
          (r.section.kind === 'agent' && r.section.name === agent) ||
          (r.section.kind === 'group' && groups.has(r.section.name)),
      );
      applicable.set(agent, list);
    }
    return list;
  };
  const targets = new Map(model.targets.map((t) => [t.name, t]));
  const globTools = new Map<string, string[]>();
  const toolsOf = (glob: string): string[] => {
    let list = globTools.get(glob);
    if (!list) {
      list = model.tools.filter((t) => globMatches(glob, t));
      globTools.set(glob, list);
    }
    return list;
  };
  const calls: GeneratedCall[] = [];
  for (let i = 0; i < count; i++) {
    const agent = rng.chance(0.1) ? rng.pick(model.unknownAgents) : rng.pick(model.agents).name;
    let tool = rng.pick(model.tools);
    const rules = rulesFor(agent);
    if (rules.length > 0 && rng.chance(0.8)) {
      const rule = rng.pick(rules);
      let glob = rng.pick(rule.tools);
      if (glob === '*' && rule.targets) glob = rng.pick(targets.get(rng.pick(rule.targets))?.tools ?? ['*']);
      const matching = toolsOf(glob);
      if (matching.length > 0) tool = rng.pick(matching);
    }
    calls.push({ agent, tool, args: randomArgs(rng) });
  }
  return calls;
}

function randomArgs(rng: Rng): CallArgs {
  const near = rng.pick(ARG_VALUES.amountThresholds) + rng.pick([-1, 0, 1]);
  const amount = rng.chance(0.35) ? Math.max(0, near) : rng.chance(0.5) ? rng.int(200) : rng.int(20_000);
  return {
    amount,
    env: rng.pick(ARG_VALUES.env),
    table: rng.pick(ARG_VALUES.table),
    path: rng.pick(ARG_VALUES.path),
    dryRun: rng.chance(0.4),
  };
}

/** The Cedar entities one call needs: the agent and every group it is in, transitively. */
export function cedarEntitiesFor(model: PolicyModel, agent: string): EntityJson[] {
  const byName = new Map(model.groups.map((g) => [g.name, g]));
  const known = model.agents.find((a) => a.name === agent);
  const uid = (type: string, id: string): EntityUidJson => ({ type, id });
  const entities: EntityJson[] = [
    { uid: uid('Agent', agent), attrs: {}, parents: (known?.groups ?? []).map((g) => uid('Group', g)) },
  ];
  for (const g of groupClosure(model, agent)) {
    entities.push({
      uid: uid('Group', g),
      attrs: {},
      parents: (byName.get(g)?.extends ?? []).map((p) => uid('Group', p)),
    });
  }
  return entities;
}

/** Builds the Cedar request for a generated call (do this outside any timed region). */
export function cedarRequestFor(model: PolicyModel, call: GeneratedCall): CedarAuthzRequest {
  const { amount, env, table, path, dryRun } = call.args;
  return {
    principal: { type: 'Agent', id: call.agent },
    action: { type: 'Action', id: 'call' },
    resource: { type: 'Tool', id: call.tool },
    context: { tool: call.tool, args: { amount, env, table, path, dryRun } },
    entities: cedarEntitiesFor(model, call.agent),
  };
}
