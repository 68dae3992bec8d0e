/**
 * Diagnostics are what `warden policy lint` prints: one problem, where it is, how bad, a stable code.
 * The table below is the one documented list of codes; the default severity is part of the contract.
 */
export const DIAGNOSTIC_CODES = {
  YAML_SYNTAX: ['error', 'The file is not valid YAML.'],
  FILE_TOO_LARGE: ['error', 'A policy file is over the size limit.'],
  TOO_DEEP: ['error', 'The document nests deeper than any policy needs (likely hostile input).'],
  SCHEMA: ['error', 'A value has the wrong type or shape.'],
  UNKNOWN_KEY: ['error', 'A key the policy format does not have (often a typo).'],
  DUPLICATE_DEFINITION: ['error', 'The same agent, group, target or setting is defined in two files.'],
  DUPLICATE_RULE_ID: ['error', 'Two rules share an id; ids must be unique so decisions are unambiguous.'],
  UNKNOWN_TARGET: ['error', 'A rule refers to a target that is not defined.'],
  UNKNOWN_GROUP: ['error', 'An agent or group inherits from a group that is not defined.'],
  UNKNOWN_APPROVER_GROUP: ['error', 'An approval requirement names an approver group that is not defined.'],
  GROUP_CYCLE: ['error', 'Group inheritance loops back on itself.'],
  BAD_GLOB: ['error', 'A tool glob cannot be compiled.'],
  CEL_SYNTAX: ['error', 'A CEL condition does not parse.'],
  CEL_UNKNOWN_VARIABLE: ['error', 'A CEL condition uses a name the call does not have.'],
  CEL_TYPE: ['error', 'A CEL condition is ill-typed, or does not return a bool.'],
  DEFAULT_ALLOW: ['warning', 'The default decision is allow: anything not covered by a rule runs.'],
  ALLOW_WILDCARD: ['warning', 'An allow rule covers every tool.'],
  ALLOW_SENSITIVE_TARGET: ['warning', 'An allow rule lets calls to a sensitive target run without review.'],
  REVIEW_UNAPPROVABLE: ['warning', 'Nobody can ever approve this review rule, so it blocks in practice.'],
  TIMEOUT_ALLOWS: ['warning', 'An expired approval request lets the call run.'],
  ESCALATION_TOO_LATE: ['warning', 'An escalation is scheduled after the request has already expired.'],
  TARGET_UNUSED: ['warning', 'A target no rule refers to: it protects nothing.'],
  RULE_NEVER_MATCHES: ['warning', 'A rule can never match any call.'],
  RULE_SHADOWED: [
    'warning',
    'A rule can never decide: an unconditional rule with higher precedence covers it.',
  ],
  APPROVAL_IGNORED: ['warning', 'An approval requirement on an allow or block rule has no effect.'],
  MONITOR_MODE: ['warning', 'The policy is in monitor mode: every call is allowed and only recorded.'],
  REVIEW_UNVERIFIED_IDENTITY: [
    'warning',
    "A review rule's separation of duties relies on claimed names: an agent it applies to does not require a task token (identity.requireTaskToken), so the initiator and chain it compares are whatever the call says.",
  ],
} as const;

/** A stable diagnostic code. */
export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;
export type Severity = 'error' | 'warning';

/** One problem found in a policy, with a 1-based line and column in `file`. */
export interface Diagnostic {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly severity: Severity;
  readonly code: DiagnosticCode;
  readonly message: string;
}

/** Formats a diagnostic as `FILE:LINE:COL severity CODE message`, the lint output contract. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col} ${d.severity} ${d.code} ${d.message}`;
}

/** Orders diagnostics by file, then position. */
export function sortDiagnostics(ds: readonly Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
}
