export {
  API_KEY_PREFIX,
  bootstrapAdminKey,
  type CreatedApiKey,
  createApiKey,
  generateApiSecret,
  hashApiSecret,
  isApiSecretShape,
  type NewApiKey,
  publicView,
  revokeApiKey,
} from './access/api-keys.js';
export {
  approvalEvent,
  NOTIFIED_EVENTS,
  type NotificationTarget,
} from './approval/approval-events.js';
export { ApprovalService, type VoterAliases, voterActor } from './approval/approval-service.js';
export { GrantService, type GrantSpec, MAX_GRANT_MS } from './approval/grant-service.js';
export {
  type ExportOptions,
  type ExportResult,
  exportAudit,
  verifyExportRows,
} from './audit/export-audit.js';
export { type PurgeOutcome, placeLegalHold, purgeExpired, releaseLegalHold } from './audit/retention.js';
export { type RetentionOptions, scheduleRetention } from './audit/retention-schedule.js';
export { type VerifyStoreOptions, verifyStore } from './audit/verify-store.js';
export {
  BudgetService,
  type BudgetServiceOptions,
  type BudgetStatus,
  reservationIdOf,
} from './budget/budget-service.js';
export { type CallOutcome, DEFAULT_LIMITS, type StorageLimits } from './engine/call-events.js';
export {
  type BudgetRefusal,
  type CheckOptions,
  type CheckResult,
  type CompleteOptions,
  Engine,
  type EngineBlockCode,
  type EngineOptions,
  type UsageEstimate,
} from './engine/engine.js';
export { type OpenEngineOptions, openEngine } from './engine/open-engine.js';
export { closeSession, pauseSession, type ResumeOptions, resumeSession } from './engine/session-control.js';
export {
  DEFAULT_TASK_TTL_SECONDS,
  type IssuedTaskToken,
  MAX_TASK_TTL_SECONDS,
  type Presenter,
  TaskService,
  type TaskStart,
} from './identity/task-service.js';
export {
  deriveTaskSigningKey,
  TASK_TOKEN_AUDIENCE,
  TASK_TOKEN_ISSUER,
  type TaskSigningKey,
} from './identity/task-signing-key.js';
export {
  type ChainLink,
  type RefusalReason,
  signTaskToken,
  type TaskClaims,
  type TaskInitiator,
  verifyTaskToken,
} from './identity/task-token.js';
export {
  generateKeyRing,
  type KeyRing,
  loadOrCreateKeyRing,
  readKeyRing,
  readPublicKeys,
} from './keys/key-ring.js';
export { type AppliedPolicy, applyPolicy } from './policy/policy-apply.js';
export { lastFromPolicyFile, POLICY_FILE_ACTOR } from './policy/policy-file-origin.js';
export { listYaml, loadPolicySources, readBounded } from './policy/policy-files.js';
export { compileStored, type PolicySync, syncPolicy } from './policy/policy-sync.js';
export { loadPolicy, type PolicyWatcher, watchPolicy } from './policy/policy-watcher.js';
export { type ReplayTrailOptions, replayTrail } from './policy/replay-trail.js';
export { gatherSoc2Report, type Soc2GatherOptions } from './report/soc2-gather.js';
export {
  type AuditQuery,
  type AuditQueryInput,
  AuditQuerySchema,
  encodeCursor,
  parseAuditQuery,
} from './store/audit-query.js';
export { GroupCommitter } from './store/group-committer.js';
export { DEFAULT_DB, defaultKeyFile, openStore } from './store/open-store.js';
export type { PersonRecord } from './store/people-rows.js';
export { ROLLUP_DERIVERS } from './store/rollups/derivers.js';
export {
  bucketStartMs,
  dimsKey,
  dimsParts,
  dimsPrefix,
  hourBucket,
  type RollupCell,
  type RollupDelta,
  type RollupDeriver,
  type RollupQuery,
} from './store/rollups/rollup.js';
export { type RollupRow, sumRollups } from './store/rollups/rollup-sums.js';
export { SESSION_ROLLUP, sessionRollupQuery, sessionUsageOf } from './store/rollups/session-rollup.js';
export { readUsage, type UsageRead, type UsageSink, wholeHours } from './store/rollups/usage-reader.js';
export { USAGE_DAILY, USAGE_HOURLY, type UsageSums, usageDeriver } from './store/rollups/usage-rollup.js';
export {
  API_ROLES,
  type ApiKeyPermission,
  type ApiKeyRecord,
  type ApiRole,
  type ApprovalPage,
  type ApprovalQuery,
  type AuditPage,
  type BudgetCounterQuery,
  type CommitResult,
  type CommitUnit,
  type GrantQuery,
  type GrantRecord,
  type LegalHold,
  type Mutation,
  type NotificationRecord,
  type PolicyVersionRecord,
  PRINCIPAL_KINDS,
  type PrincipalKind,
  SESSION_STATES,
  type SessionPage,
  type SessionQuery,
  type SessionRecord,
  type SessionState,
  type SessionUsage,
  type Store,
} from './store/store.js';
