import { createPublicKey, type KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  ChainVerifier,
  canonicalJson,
  GENESIS_HASH,
  type SignedCheckpoint,
  type VerifyReport,
  WardenError,
} from '@warden/core';
import type { Store } from '../store/store.js';
import { verifyColumns } from './verify-columns.js';
import type { SegmentTask } from './verify-worker.js';

export interface VerifyStoreOptions {
  /** Keys trusted to sign checkpoints; default: the keys registered in the store. */
  readonly publicKeys?: readonly KeyObject[];
  /** Checkpoints kept outside the database; checked together with the stored ones. */
  readonly checkpoints?: readonly SignedCheckpoint[];
  readonly pageSize?: number;
  /** Called as verification advances with the number of events checked so far. */
  readonly onProgress?: (checked: number) => void;
  /** Threads for a SQLite store (default: one per core, up to 4; 1 turns parallelism off). */
  readonly threads?: number;
  /** Chains shorter than this are verified on the calling thread (default 50,000). */
  readonly parallelFrom?: number;
  /**
   * Also re-derive every event's query columns from its body (COLUMN_MISMATCH names the first bad seq
   * and column): an edited column hides an event from filtered queries without touching the chain.
   * Read after the chain has verified; a second pass over every event.
   */
  readonly deep?: boolean;
}

/** Below this many events, starting threads costs more than it saves. */
const PARALLEL_MIN_EVENTS = 50_000;

/**
 * Verifies the whole chain in a store: every hash recomputed, every sequence number present, every
 * checkpoint signature valid and matched. External checkpoints catch a truncation or a rewrite that
 * also removed the checkpoints from the database. A large SQLite chain is split into stretches that
 * worker threads verify in parallel. `deep` also checks every query column against its body.
 */
export async function verifyStore(store: Store, options: VerifyStoreOptions = {}): Promise<VerifyReport> {
  const publicKeys = options.publicKeys ?? (await storedKeys(store));
  const stored = await store.checkpoints();
  const seen = new Set(stored.map((c) => canonicalJson(c)));
  const checkpoints = [...stored, ...(options.checkpoints ?? []).filter((c) => !seen.has(canonicalJson(c)))];
  const verifier = new ChainVerifier({ mode: 'store', checkpoints, publicKeys });
  const threads = Math.min(options.threads ?? availableParallelism(), 4);
  const oldest = await store.oldestEvent();
  const head = await store.head();
  const parallelFrom = options.parallelFrom ?? PARALLEL_MIN_EVENTS;
  if (store.localFile && oldest && threads > 1 && head.seq - oldest.seq + 1 >= parallelFrom) {
    await verifyInParallel(
      store,
      store.localFile,
      { from: oldest.seq, to: head.seq, threads, checkpoints },
      verifier,
      options,
    );
  } else {
    await verifySequentially(store, verifier, options);
  }
  const report = verifier.finish();
  if (!options.deep || !report.ok) return report;
  const problem = await verifyColumns(store, options.pageSize ? { pageSize: options.pageSize } : {});
  return problem ? { ...report, ok: false, problem } : report;
}

async function verifySequentially(
  store: Store,
  verifier: ChainVerifier,
  options: VerifyStoreOptions,
): Promise<void> {
  const pageSize = options.pageSize ?? 20_000;
  let after = 0;
  let checked = 0;
  for (;;) {
    const rows = await store.readChain(after, pageSize);
    if (rows.length === 0) return;
    for (const row of rows) if (!verifier.push(row)) return;
    checked += rows.length;
    options.onProgress?.(checked);
    after = (rows[rows.length - 1] as { seq: number }).seq;
  }
}

async function verifyInParallel(
  store: Store,
  file: string,
  range: { from: number; to: number; threads: number; checkpoints: readonly SignedCheckpoint[] },
  verifier: ChainVerifier,
  options: VerifyStoreOptions,
): Promise<void> {
  const size = Math.ceil((range.to - range.from + 1) / range.threads);
  const tasks: SegmentTask[] = [];
  for (let fromSeq = range.from; fromSeq <= range.to; fromSeq += size) {
    // Each stretch starts from the stored hash before it; `absorb` checks the stretches join up.
    const before = fromSeq === 1 ? undefined : (await store.readChain(fromSeq - 2, 1))[0];
    const anchor = range.checkpoints.find((c) => c.seq === fromSeq - 1 && c.kind !== 'seal');
    const prev = before?.seq === fromSeq - 1 ? before.hash : (anchor?.hash ?? GENESIS_HASH);
    tasks.push({
      file,
      fromSeq,
      toSeq: Math.min(range.to, fromSeq + size - 1),
      prev,
      checkpoints: range.checkpoints,
    });
  }
  let checked = 0;
  const reports = await Promise.all(
    tasks.map((t) =>
      runWorker(t).then((r) => {
        checked += r.checked;
        options.onProgress?.(checked);
        return r;
      }),
    ),
  );
  for (const r of reports) if (!verifier.absorb(r)) return;
}

function runWorker(task: SegmentTask): Promise<VerifyReport> {
  // From source (tests, tsx) the worker is TypeScript: a one-line bootstrap registers tsx in the thread.
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(fromSource ? './verify-worker.ts' : './verify-worker.js', import.meta.url);
  const worker = fromSource
    ? new Worker(
        `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((t) => { t.register(); return import(${JSON.stringify(url.href)}); });`,
        { eval: true, workerData: task, execArgv: ['--conditions=@warden/source'] },
      )
    : new Worker(url, { workerData: task });
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', (err) =>
      reject(new WardenError('INTERNAL', `verification thread failed: ${err.message}`)),
    );
    worker.once('exit', (code) => {
      if (code !== 0) reject(new WardenError('INTERNAL', `verification thread exited with code ${code}`));
    });
  });
}

async function storedKeys(store: Store): Promise<KeyObject[]> {
  const keys = await store.publicKeys();
  try {
    return keys.map((k) => createPublicKey(k.pem));
  } catch (err) {
    throw new WardenError(
      'KEYS_INVALID',
      `a public key stored in the database is malformed: ${(err as Error).message}`,
    );
  }
}
