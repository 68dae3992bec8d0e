import type { ErrorCode } from './error-codes.js';

/** The one error class Warden throws: a stable code, a message for humans and structured details. */
export class WardenError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'WardenError';
    this.code = code;
    this.details = details;
  }
}

/** True when `err` is a WardenError, optionally with the given code. */
export function isWardenError(err: unknown, code?: ErrorCode): err is WardenError {
  return err instanceof WardenError && (code === undefined || err.code === code);
}
