import { isWardenError, WardenError } from '@warden/core';

/**
 * The refusal of a `session.ensure` with `onlyIfNew` whose session exists already: SESSION_STATE with
 * `details.exists`, so the engine can tell it from a state change refused.
 */
export function sessionExists(id: string): WardenError {
  return new WardenError(
    'SESSION_STATE',
    `session ${id} already exists (created by someone else meanwhile); a new session must be new`,
    { session: id, exists: true },
  );
}

/** Whether `err` is `sessionExists`'s refusal. */
export function isSessionExists(err: unknown): boolean {
  return isWardenError(err, 'SESSION_STATE') && err.details.exists === true;
}
