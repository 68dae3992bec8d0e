import type { ApprovalRequirement } from './compiled-policy.js';
import type { Effect } from './policy-schema.js';

/** A condition that failed at evaluation time, and how the evaluator treated it (fail closed). */
export interface ConditionError {
  readonly ruleId: string;
  readonly target?: string;
  readonly message: string;
  /** block/review rules count an erroring condition as a match; allow rules as no match. */
  readonly treatedAs: 'match' | 'no-match';
}

/** The outcome of evaluating one call: a value, never an exception. */
export interface Decision {
  /** What the caller must do. In monitor mode this is always `allow`. */
  readonly effect: Effect;
  /** What the policy decided; differs from `effect` only in monitor mode. */
  readonly policyEffect: Effect;
  readonly mode: 'enforce' | 'monitor';
  /** The rule that decided, or null when the default decision applied. */
  readonly ruleId: string | null;
  /** Every rule that matched, in precedence order. */
  readonly matchedRuleIds: readonly string[];
  readonly reasons: readonly string[];
  readonly policyVersion: string;
  /** The deciding rule's approval requirement; present when policyEffect is `review`. */
  readonly approval: ApprovalRequirement | undefined;
  /**
   * Every distinct requirement of the review rules that matched, the decider's first. All of them must
   * be satisfied, so a lenient agent-specific rule cannot water down a stricter shared one.
   */
  readonly approvals: readonly ApprovalRequirement[] | undefined;
  readonly conditionErrors: readonly ConditionError[] | undefined;
}
