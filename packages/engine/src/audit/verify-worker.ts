import { parentPort, workerData } from 'node:worker_threads';
import { ChainVerifier, type SignedCheckpoint } from '@warden/core/chain';
import Database from 'better-sqlite3';

/** What the main thread hands a verification worker: one stretch of a SQLite chain. */
export interface SegmentTask {
  readonly file: string;
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly prev: string;
  readonly checkpoints: readonly SignedCheckpoint[];
}

/**
 * Verifies one stretch of a SQLite chain on its own connection and thread. Each event's hash depends
 * only on the stored hash before it, so stretches verify independently; the main thread checks that
 * they join up and does the end-of-chain checks.
 */
function run(task: SegmentTask) {
  const db = new Database(task.file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('mmap_size = 1073741824');
    const verifier = new ChainVerifier({
      mode: 'store',
      checkpoints: task.checkpoints,
      publicKeys: [],
      segment: { prev: task.prev },
    });
    const rows = db
      // SQLite builds the hashed text (seq, prev, body) itself: one string per row instead of three.
      .prepare(
        "SELECT seq, hash, seq || char(10) || prev || char(10) || body, type = 'retention.purged' FROM audit_events WHERE seq BETWEEN ? AND ? ORDER BY seq",
      )
      .raw(true)
      .iterate(task.fromSeq, task.toSeq) as IterableIterator<[number, string, string, number]>;
    for (const [seq, hash, link, purge] of rows) {
      if (!verifier.pushLink(seq, hash, link, purge !== 0)) break;
    }
    return verifier.finish();
  } finally {
    db.close();
  }
}

parentPort?.postMessage(run(workerData as SegmentTask));
