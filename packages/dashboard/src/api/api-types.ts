/**
 * The API's answers as the dashboard reads them: the types of @warden/api, inferred from the schemas the
 * server validates with and describes in /openapi.json (type-only imports: nothing of Zod is bundled).
 */
import type {
  ApiRole,
  ApprovalProgress,
  ApprovalView,
  AuditEventView,
  AuditRecordView,
  AuditVerifyResult,
  BudgetStatus,
  Diagnostic,
  PolicyVersion,
  ReplayReportView,
  Session,
  SessionDetail,
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
  BudgetStatus,
  Diagnostic,
  PolicyVersion,
  Session,
  SessionDetail,
  SignedIn,
  UsageLine,
  UsageSeries,
  Vote,
};
