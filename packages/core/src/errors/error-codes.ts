/**
 * Every stable error code Warden can raise, with what it means. Codes are public API: never rename one,
 * only add. The HTTP status mapping lives with the server; this table is the one place codes are defined.
 */
export const ERROR_CODES = {
  POLICY_INVALID:
    'The policy could not be compiled; details.diagnostics lists each problem with its location.',
  POLICY_NOT_FOUND: 'A policy file or folder does not exist or holds no YAML files.',
  CALL_INVALID: 'A tool call is malformed (missing agent or tool, wrong types).',
  USAGE: 'A command was invoked with missing or malformed options.',
  INTERNAL: 'An unexpected failure; the message says what was being done.',
} as const;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof ERROR_CODES;
