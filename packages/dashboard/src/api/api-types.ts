/**
 * The API's answers as the dashboard reads them: the types of @warden/api, inferred from the schemas the
 * server validates with and describes in /openapi.json (type-only imports: nothing of Zod is bundled).
 */
import type {
  ApiRole,
  ApprovalList,
  ApprovalProgress,
  ApprovalView,
  AuditEventView,
  AuditPage,
  AuditRecordView,
  AuditVerifyResult,
  BudgetList,
  BudgetStatus,
  CheckpointList,
  Diagnostic,
  PolicyValidation,
  PolicyVersion,
  PolicyVersionList,
  ReplayReportView,
  Session,
  SessionDetail,
  SessionList,
  SignedCheckpointView,
  SignedIn,
  UsageLine,
  UsageSeries,
  Vote,
} from '@warden/api';

export type Role = ApiRole;
export type Approval = ApprovalView;
export type Progress = ApprovalProgress;
export type AuditEvent = AuditEventView;
export type AuditRecord = AuditRecordView;
export type VerifyReport = AuditVerifyResult;
export type Checkpoint = SignedCheckpointView;
export type ReplayReport = ReplayReportView;
export type {
  ApprovalList,
  AuditPage,
  BudgetList,
  BudgetStatus,
  CheckpointList,
  Diagnostic,
  PolicyValidation,
  PolicyVersion,
  PolicyVersionList,
  Session,
  SessionDetail,
  SessionList,
  SignedIn,
  UsageLine,
  UsageSeries,
  Vote,
};
