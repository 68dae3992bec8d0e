import type { AuditEvent, ChainProblem } from '@warden/core';
import { firstColumnMismatch } from '../store/event-columns.js';
import type { Store } from '../store/store.js';

/**
 * Deep verification: re-derives every event's query columns from its body, by the function the store's
 * INSERT uses, and returns the first event whose stored columns differ (COLUMN_MISMATCH). The chain
 * covers bodies only, so an edited column (which hides an event from filtered queries) is found only
 * here. An event_id left NULL is accepted: events from before schema 4 have none, and a lookup by id
 * falls back to the body for those.
 */
export async function verifyColumns(
  store: Store,
  options: { pageSize?: number; onProgress?: (checked: number) => void } = {},
): Promise<ChainProblem | undefined> {
  const pageSize = options.pageSize ?? 20_000;
  let checked = 0;
  for (let after = 0; ; ) {
    const rows = await store.readColumns(after, pageSize);
    if (rows.length === 0) return undefined;
    for (const row of rows) {
      const expected = { ...store.expectedColumns(JSON.parse(row.body) as AuditEvent) };
      if (row.columns.event_id === null) delete expected.event_id;
      const bad = firstColumnMismatch(row.columns, expected);
      if (bad) {
        return {
          code: 'COLUMN_MISMATCH',
          seq: row.seq,
          column: bad.column,
          message: `event ${row.seq}: column ${bad.column} holds ${JSON.stringify(bad.stored)}, but its body says ${JSON.stringify(bad.expected)}`,
        };
      }
    }
    checked += rows.length;
    options.onProgress?.(checked);
    after = (rows.at(-1) as { seq: number }).seq;
  }
}
