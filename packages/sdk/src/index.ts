export { isWardenError, WardenError } from '@warden/core';
export { type CallContext, currentContext } from './call-context.js';
export { type CreateWardenOptions, createWarden, type EmbeddedOptions } from './create-warden.js';
export { HttpTransport, type HttpTransportOptions } from './http-transport.js';
export {
  type DelegatedToken,
  readTaskToken,
  type StartedTask,
  type StartTaskOptions,
  TASK_TOKEN_HEADER,
  type TaskInitiatorInput,
  taskTokenProblem,
} from './task-token.js';
export { withTraceContext } from './trace-propagation.js';
export { DEFAULT_APPROVAL_TIMEOUT_MS, Warden } from './warden.js';
export type {
  ApprovalPending,
  Authorized,
  AuthorizeOptions,
  GovernedCall,
  GuardOptions,
  ModelUsage,
  RunOptions,
  WardenClientOptions,
} from './warden-options.js';
export {
  type ApprovalState,
  approvalLetsCallRun,
  type CallDecision,
  type CallRequest,
  type CallResult,
  type CheckRequestOptions,
  type UsageEstimate,
  type WaitOptions,
  type WardenTransport,
} from './warden-transport.js';
