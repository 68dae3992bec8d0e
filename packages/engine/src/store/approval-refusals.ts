import { type ApprovalRecord, WardenError } from '@warden/core';

/**
 * Refuses a record whose version does not follow the one it replaces (1 for a new request), so the
 * stored version always counts the changes made.
 */
export function checkVersion(a: ApprovalRecord, expectVersion: number | null): void {
  const want = expectVersion === null ? 1 : expectVersion + 1;
  if (a.version !== want) {
    throw new WardenError(
      'APPROVAL_CONFLICT',
      `approval ${a.id} is saved as version ${a.version}; it must be ${want}, one past the version it replaces`,
    );
  }
}

/** The refusal of an insert that clashed with a stored request (same id or same call). */
export function duplicateApproval(a: ApprovalRecord): WardenError {
  return new WardenError(
    'APPROVAL_CONFLICT',
    `an approval request with id ${a.id} or for call ${a.callId} already exists`,
  );
}

/** The refusal of an update that found no row at the expected version: `stored` is what is there. */
export function staleApproval(id: string, expectVersion: number, stored: number | undefined): WardenError {
  if (stored === undefined) return new WardenError('APPROVAL_NOT_FOUND', `no approval request has id ${id}`);
  return new WardenError(
    'APPROVAL_CONFLICT',
    `approval ${id} changed meanwhile: it is at version ${stored}, not ${expectVersion}`,
  );
}

/** The refusal of a revocation that changed nothing: no such grant, or revoked already. */
export function grantNotRevocable(id: string, revokedAt: string | undefined): WardenError {
  if (revokedAt === undefined) return new WardenError('GRANT_NOT_FOUND', `no grant has id ${id}`);
  return new WardenError('GRANT_INVALID', `grant ${id} was already revoked at ${revokedAt}`);
}

/** The refusal of a grant whose id is taken (ids are fresh UUIDv7s, so this is a caller's mistake). */
export function grantExists(id: string): WardenError {
  return new WardenError('GRANT_INVALID', `a grant with id ${id} already exists`);
}
