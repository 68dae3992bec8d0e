export { isWardenError, WardenError } from '@warden/core';
export { type CallContext, currentContext } from './call-context.js';
export { type CreateWardenOptions, createWarden, type EmbeddedOptions } from './create-warden.js';
export { type ApprovalWaiter, EngineTransport, type EngineTransportOptions } from './engine-transport.js';
export { HttpTransport, type HttpTransportOptions } from './http-transport.js';
export {
  type ApprovalPending,
  type Authorized,
  type AuthorizeOptions,
  DEFAULT_APPROVAL_TIMEOUT_MS,
  type GovernedCall,
  type GuardOptions,
  type ModelUsage,
  type RunOptions,
  Warden,
  type WardenClientOptions,
} from './warden.js';
export {
  type ApprovalState,
  approvalLetsCallRun,
  type CallDecision,
  type CallRequest,
  type CallResult,
  type CheckRequestOptions,
  type UsageEstimate,
  type WardenTransport,
} from './warden-transport.js';
