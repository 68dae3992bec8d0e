import {
  type AuditRecord,
  ChainVerifier,
  CSV_HEADER,
  type ExportFormat,
  formatRecord,
  type SignedCheckpoint,
  signCheckpoint,
  WardenError,
} from '@warden/core';
import type { KeyRing } from '../keys/key-ring.js';
import type { Store } from '../store/store.js';
import { verifyStore } from './verify-store.js';

export interface ExportOptions {
  readonly format: ExportFormat;
  readonly from?: string;
  readonly to?: string;
  /** Receives each line (with its newline); awaited, so a slow sink applies back-pressure. */
  readonly write: (chunk: string) => void | Promise<void>;
  readonly onProgress?: (exported: number) => void;
}

/** What an export produced: how many events, and the checkpoints an auditor needs to verify it offline. */
export interface ExportResult {
  readonly count: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  /** The stored checkpoints up to the end of the export, plus a seal signed for exactly this range. */
  readonly checkpoints: SignedCheckpoint[];
}

/**
 * Exports every event in [from, to) as one contiguous range of the chain. It verifies the chain first
 * (an export of a broken chain would launder it), then signs a seal over exactly the exported range:
 * its first seq and the hash before it, its last seq and hash.
 */
export async function exportAudit(store: Store, keys: KeyRing, o: ExportOptions): Promise<ExportResult> {
  const report = await verifyStore(store);
  if (!report.ok) {
    throw new WardenError('CHAIN_BROKEN', `refusing to export: ${report.problem?.message}`, {
      problem: report.problem,
    });
  }
  if (o.format === 'csv') await o.write(`${CSV_HEADER}\n`);
  const oldest = await store.oldestEvent();
  const head = await store.head();
  // Times come from the instances' clocks, so they can be slightly out of chain order; an export is one
  // contiguous stretch of the chain, from the first event at or after `from` to the last before `to`.
  const firstSeq = o.from ? (await store.lastSeqBefore(o.from)) + 1 : (oldest?.seq ?? 1);
  const lastSeq = o.to ? await store.lastSeqBefore(o.to) : head.seq;
  let first: AuditRecord | undefined;
  let last: AuditRecord | undefined;
  let count = 0;
  let after = Math.max(firstSeq, oldest?.seq ?? 1) - 1;
  while (after < lastSeq) {
    const rows = await store.readChain(after, Math.min(5_000, lastSeq - after));
    if (rows.length === 0) break;
    for (const row of rows) {
      const r: AuditRecord = { seq: row.seq, prev: row.prev, hash: row.hash, event: JSON.parse(row.body) };
      first ??= r;
      last = r;
      await o.write(`${formatRecord(o.format, r)}\n`);
      count += 1;
    }
    after = (rows[rows.length - 1] as { seq: number }).seq;
    o.onProgress?.(count);
  }
  const stored = await store.checkpoints({ toSeq: last?.seq ?? 0 });
  const checkpoints = stored.filter((c) => c.kind !== 'seal');
  if (first && last) checkpoints.push(seal(keys, first, last));
  return { count, firstSeq: first?.seq ?? null, lastSeq: last?.seq ?? null, checkpoints };
}

function seal(keys: KeyRing, first: AuditRecord, last: AuditRecord): SignedCheckpoint {
  return signCheckpoint(
    {
      kind: 'seal',
      seq: last.seq,
      hash: last.hash,
      ts: new Date().toISOString(),
      prev: null,
      keyId: keys.keyId,
      fromSeq: first.seq,
      fromPrev: first.prev,
    },
    keys.signingKey,
  );
}

/** Verifies an export offline: its rows, the checkpoints file and the trusted public keys. */
export function verifyExportRows(
  rows: Parameters<ChainVerifier['push']>[0][],
  checkpoints: readonly SignedCheckpoint[],
  publicKeys: ConstructorParameters<typeof ChainVerifier>[0]['publicKeys'],
) {
  const verifier = new ChainVerifier({ mode: 'export', checkpoints, publicKeys });
  for (const row of rows) if (!verifier.push(row)) break;
  return verifier.finish();
}
