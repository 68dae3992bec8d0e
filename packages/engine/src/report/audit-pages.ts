import type { AuditRecord } from '@warden/core';
import { type AuditQueryInput, parseAuditQuery } from '../store/audit-query.js';
import type { Store } from '../store/store.js';

/** Every record a query matches, in its order, one page at a time (memory stays bounded). */
export async function* auditPages(
  store: Store,
  q: AuditQueryInput,
  limit: number,
): AsyncGenerator<AuditRecord> {
  let cursor: string | undefined;
  do {
    const page = await store.queryAudit(parseAuditQuery({ ...q, limit, ...(cursor ? { cursor } : {}) }));
    yield* page.records;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}
