export {
  APPROVAL_STATUSES,
  type ApprovalRecord,
  type ApprovalStatus,
  type ApprovalVote,
  approvalLetsRun,
  type RequirementProgress,
  usableUntil,
  type Voter,
} from './approval/approval-record.js';
export { describeApprovers, effectiveApprovers, eligibleFor, tally } from './approval/approval-tally.js';
export {
  type ApprovalOpening,
  cancelApproval,
  castVote,
  dueAction,
  escalateApproval,
  expireApproval,
  openApproval,
  overrideApproval,
  stakeOf,
  useApproval,
  voidApproval,
  voteRefusal,
} from './approval/approval-transitions.js';
export { confusableSkeleton } from './approval/confusable-skeleton.js';
export { CONFUSABLES_UNICODE_VERSION } from './approval/confusables-table.js';
export { invisibleCharacter, withoutBlanks } from './approval/name-characters.js';
export {
  dutyForms,
  hasStake,
  identityKeys,
  normalName,
  type Stake,
  sameDutyName,
  samePrincipal,
  selfApproval,
  stakeholders,
  type VerifiedWho,
} from './approval/separation-of-duties.js';
export { type ChainHead, chainEvents, EMPTY_HEAD, GENESIS_HASH, linkHash } from './audit/audit-chain.js';
export {
  ACTOR_KINDS,
  type Actor,
  ActorSchema,
  AUDIT_EVENT_TYPES,
  type AuditEvent,
  AuditEventSchema,
  type AuditEventType,
  AuditOutcomeSchema,
  type AuditRecord,
  type CallIdentity,
  CallIdentitySchema,
  type ChainedRow,
  IDENTITY_METHODS,
  type IdentityProof,
  IdentityProofSchema,
  type Usage,
  UsageSchema,
} from './audit/audit-event.js';
export {
  CHAIN_PROBLEMS,
  type ChainProblem,
  type ChainProblemCode,
  ChainVerifier,
  type VerifiableRow,
  type VerifierOptions,
  type VerifyReport,
} from './audit/chain-verifier.js';
export { checkpointDigest, checkpointSignatureValid, keyIdOf, signCheckpoint } from './audit/checkpoint.js';
export {
  CHECKPOINT_KINDS,
  type CheckpointBody,
  CheckpointBodySchema,
  type SignedCheckpoint,
  SignedCheckpointSchema,
} from './audit/checkpoint-schema.js';
export { redactEvent } from './audit/event-redaction.js';
export {
  CSV_HEADER,
  EXPORT_FORMATS,
  type ExportFormat,
  formatRecord,
  parseExport,
} from './audit/export-format.js';
export {
  actorProof,
  CLAIMED,
  callParties,
  type EventIdentity,
  eventIdentities,
  type IdentityRole,
  proofDetail,
  proofLabel,
  recordsCall,
  unverifiedClaims,
} from './audit/identity-proofs.js';
export { uuidv7 } from './audit/ids.js';
export {
  DEFAULT_SECRET_FIELDS,
  type JsonValue,
  type RedactedValue,
  type Redaction,
  type RedactionOptions,
  redactStored,
  redactValue,
  SECRET_KINDS,
  type SecretKind,
  toJsonSafe,
  VALUE_FLAGS,
  type ValueFlag,
} from './audit/redaction.js';
export {
  keyActor,
  RESERVED_PRINCIPAL_NAMES,
  reservedPrincipalName,
  SYSTEM_ACTOR_IDS,
  type SystemActorId,
  systemActor,
  systemActorProblem,
  WARDEN_ACTOR,
} from './audit/system-actor.js';
export * from './budget/breakers.js';
export * from './budget/budget-line.js';
export * from './budget/budget-plan.js';
export * from './budget/budget-policy.js';
export * from './budget/budget-window.js';
export * from './budget/price-table.js';
export * from './budget/usage-series.js';
export { canonicalHash, canonicalJson } from './canonical/canonical-json.js';
export { isCalendarDate } from './config/calendar-date.js';
export { envReference } from './config/env-reference.js';
export { ERROR_CODES, type ErrorCode } from './errors/error-codes.js';
export { isWardenError, WardenError } from './errors/warden-error.js';
export { callFieldIssues, refineCallFields, type ToolCall, ToolCallSchema } from './policy/call.js';
export {
  CEL_VARIABLES,
  type Condition,
  compileCondition,
  isConditionProblem,
} from './policy/cel-condition.js';
export type {
  AgentPlan,
  ApprovalRequirement,
  CompiledPolicy,
  CompiledRule,
  CompiledTarget,
} from './policy/compiled-policy.js';
export type { ConditionError, Decision } from './policy/decision.js';
export {
  DIAGNOSTIC_CODES,
  type Diagnostic,
  type DiagnosticCode,
  formatDiagnostic,
  type Severity,
} from './policy/diagnostic.js';
export { formatDuration, parseDuration } from './policy/duration.js';
export { compileGlob } from './policy/glob.js';
export {
  analyzePolicy,
  compilePolicy,
  compilePolicySources,
  type PolicyAnalysis,
} from './policy/policy-compiler.js';
export { evaluate, planFor, type RuleObserver, type RuleOutcome } from './policy/policy-evaluator.js';
export { type Explanation, explain, type RuleTrace } from './policy/policy-explain.js';
export {
  DEFAULT_REPLAY_SAMPLES,
  PolicyReplayer,
  type RecordedBasis,
  type ReplayOptions,
  type ReplayWindow,
  recordedBasis,
  recordedCall,
  replayEvents,
} from './policy/policy-replay.js';
export {
  EFFECTS,
  type Effect,
  type PolicyDocument,
  PolicyDocumentSchema,
  policyJsonSchema,
} from './policy/policy-schema.js';
export {
  type CaseResult,
  type LoadedTestFile,
  loadPolicyTests,
  type Mismatch,
  type PolicyTestFile,
  PolicyTestFileSchema,
  runPolicyTests,
} from './policy/policy-test-runner.js';
export {
  type ReplayChange,
  ReplayChangeSchema,
  type ReplayDecision,
  ReplayDecisionSchema,
  type ReplayReport,
  ReplayReportSchema,
  type ReplaySample,
  ReplaySampleSchema,
} from './policy/replay-report.js';
export { DEFAULT_REPLAY_SINCE, replayWindow, resolveTime } from './policy/replay-window.js';
export { toolReach } from './policy/tool-visibility.js';
export { MAX_POLICY_BYTES, type PolicySource } from './policy/yaml-source.js';
export {
  type Capped,
  CappedList,
  OTHER_KEY,
  Tally,
  type TallyRow,
  type TopList,
} from './report/capped-list.js';
export {
  countedIdentities,
  IDENTITY_LIMITS,
  type IdentityCount,
  identityKey,
  type MethodSums,
  PROOF_METHODS,
} from './report/identity-tally.js';
export { policyAgentRules } from './report/policy-summary.js';
export {
  bucketStart,
  bucketsOf,
  checkPeriod,
  type Granularity,
  granularityFor,
  type ReportPeriod,
} from './report/report-period.js';
export {
  buildSoc2Report,
  SOC2_CONTEXT_TYPES,
  SOC2_LIMITS,
  SOC2_RARE_TYPES,
  type Soc2Counts,
  type Soc2Facts,
  type Soc2Limits,
  Soc2ReportBuilder,
} from './report/soc2-builder.js';
export type {
  AccessSection,
  AgentRules,
  ApprovalRow,
  BreakerRow,
  BudgetRow,
  BudgetSection,
  CheckpointRow,
  DecisionSummary,
  EffectCounts,
  EventRef,
  EventSummary,
  GrantRevokedRow,
  GrantRow,
  IdentityRow,
  IdentitySection,
  IntegritySection,
  KeyCreatedRow,
  KeyRevokedRow,
  MethodCounts,
  OperationsSection,
  PauseRow,
  PolicyAtEnd,
  PolicyChangeRow,
  ProofMethod,
  RaiseRow,
  RefusalRow,
  SeparationSection,
  SigningKeyRow,
  Soc2Report,
  SodViolation,
  UnverifiedDecisionRow,
} from './report/soc2-report.js';
export { blockCause } from './report/soc2-rows.js';
export {
  formatTraceparent,
  parseTraceContext,
  parseTraceparent,
  type TraceContext,
  type TraceHeaders,
  traceHeaders,
} from './trace/trace-context.js';
