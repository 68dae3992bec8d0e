import type { BudgetPolicy } from '../budget/budget-policy.js';
import type { Condition } from './cel-condition.js';
import type { GlobMatcher } from './glob.js';
import type { Candidate } from './policy-evaluator.js';
import type { ApprovalSpec, Effect, PolicyDocument, RuleSpec, TargetSpec } from './policy-schema.js';
import type { ParsedYaml, Path } from './yaml-source.js';

/** Where a piece of policy came from, so lint and explain can point at it. */
export interface SourceRef {
  readonly yaml: ParsedYaml;
  readonly path: Path;
}

/** A resolved approval requirement: every field set, defaults applied. */
export interface ApprovalRequirement {
  readonly approvers: {
    readonly roles: readonly string[];
    readonly principals: readonly string[];
    readonly groups: readonly string[];
    readonly agents: readonly string[];
  };
  readonly quorum: number;
  readonly requireEach: readonly string[];
  readonly denyThreshold: number;
  readonly timeoutMs: number;
  readonly onTimeout: 'block' | 'allow';
  readonly requireReason: boolean;
  readonly escalate?: { readonly afterMs: number; readonly to: ApprovalRequirement['approvers'] };
}

export interface CompiledTarget {
  readonly name: string;
  readonly index: number;
  readonly spec: TargetSpec;
  readonly matchTool?: GlobMatcher;
  readonly matchTarget?: GlobMatcher;
  readonly labels?: readonly (readonly [string, string])[];
  readonly when?: Condition;
  readonly src: SourceRef;
}

export interface CompiledRule {
  readonly id: string;
  readonly effect: Effect;
  /** Declaration order across the whole policy; breaks ties inside a tier. */
  readonly order: number;
  /** The section that declared it: `agents.<name>`, `groups.<name>` or `agents.*`. */
  readonly section: string;
  readonly tools: readonly string[];
  readonly matchTool: GlobMatcher;
  readonly targets?: readonly CompiledTarget[];
  readonly when?: Condition;
  readonly reason?: string;
  /** The decision reasons when this rule decides, built once at compile time. */
  readonly reasons: readonly string[];
  readonly approval?: ApprovalRequirement;
  readonly spec: RuleSpec;
  readonly src: SourceRef;
}

/** The rules one agent is subject to, in decision order, with a per-tool candidate cache. */
export interface AgentPlan {
  readonly agent: string;
  /** Sections in scope, most specific first: the agent, its groups (inherited order), then `*`. */
  readonly sections: readonly string[];
  /** Every rule in scope, sorted block → review → allow, then by specificity and declaration. */
  readonly rules: readonly CompiledRule[];
  /** Tool name → the candidate rules for it, in the same order. Filled lazily by the evaluator. */
  readonly byTool: Map<string, readonly Candidate[]>;
}

/** A policy compiled once for fast evaluation. Immutable apart from the candidate caches. */
export interface CompiledPolicy {
  /** SHA-256 of the canonical JSON of the merged, normalized policy. */
  readonly version: string;
  readonly name: string;
  readonly mode: 'enforce' | 'monitor';
  readonly defaultEffect: Effect;
  readonly defaultApproval: ApprovalRequirement;
  readonly defaultReasons: readonly string[];
  readonly document: PolicyDocument;
  /** Which file defined each top-level setting (`mode`, `defaults`) and each named entry (`agents.bot`). */
  readonly origin: ReadonlyMap<string, ParsedYaml>;
  readonly approverGroups: ReadonlyMap<string, readonly string[]>;
  readonly targets: ReadonlyMap<string, CompiledTarget>;
  readonly groups: ReadonlyMap<string, { readonly extends: readonly string[]; readonly src: SourceRef }>;
  readonly plans: ReadonlyMap<string, AgentPlan>;
  /** The plan for agents the policy does not name: only the `*` section applies. */
  readonly wildcardPlan: AgentPlan;
  readonly rules: readonly CompiledRule[];
  readonly usesNow: boolean;
  /** Field names the audit trail redacts, on top of the built-in list. */
  readonly redactFields: readonly string[];
  /** Budgets, their time zone and the breakers of each agent. */
  readonly budgets: BudgetPolicy;
  /** Identity requirements: whether an agent's calls must carry a task token to name an initiator or chain. */
  readonly identity: IdentityPolicy;
}

/** The compiled `identity` settings: `defaults.identity`, overridden by `agents.<name>` (or `agents.*`). */
export interface IdentityPolicy {
  /** Whether calls of `agent` naming an initiator or a delegation chain need a task token. */
  requireTaskToken(agent: string): boolean;
}

export type { ApprovalSpec };
